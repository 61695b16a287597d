/*
 * ferrobus' Windows host: the launchers (bin\<entry point>.exe) and service
 * hosts (bin\<service>-service.exe) of a Windows bundle. One program, compiled
 * once by zig (x86_64-windows-gnu, no build host tools), then copied and
 * configured per use: ferrobus writes a small key=value block over CONFIG's
 * padding (src/windows/host.rs), so nothing is compiled per project.
 *
 * role=console  a launcher, as pip's are: runs the bundle's python.exe (a child
 *               process in a job that dies with the launcher) with the entry
 *               point and this program's arguments; its exit code comes through.
 * role=service  a Windows service (SERVICE_WIN32_OWN_PROCESS): loads the
 *               bundle's python3XY.dll in process and runs the entry point with
 *               the service's arguments (its command line, then StartService's).
 *               A stop or shutdown from the service manager becomes SIGTERM in
 *               Python (PyErr_SetInterruptEx): the same handler the agent runs
 *               on Linux. If the agent has not returned after `stop_seconds`, it
 *               gets SIGINT (KeyboardInterrupt), then the process ends. An agent
 *               that exits by itself with a non-zero code ends the process
 *               without reporting SERVICE_STOPPED, so the service manager's
 *               failure actions (restart) apply. stdout and stderr go to `log`.
 * role=script   runs a Python script (`module`, a path relative to this
 *               program) with this program's arguments, in process like a
 *               service, stdin from NUL and stdout and stderr to `log`; exits
 *               with the script's exit code. An installer's custom actions use
 *               it: a process an installer starts may have no usable standard
 *               handles, which python.exe refuses (init_sys_streams).
 *
 * `log` is relative to %ProgramData% (which a service's environment may lack:
 * the folder is asked of the shell), or with a leading `%TEMP%\`, relative to
 * the temporary folder.
 *
 * Keys: role, python (python.exe, relative to this program's directory), dll
 * (python3XY.dll, likewise), module, attr (the entry point's module:attr),
 * service (the service's name), log, stop_seconds.
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>
#include <shellapi.h>
#include <shlobj.h>
#include <fcntl.h>
#include <io.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#define MARKER "@@FERROBUS-HOST-CONFIG-V1@@"
#define CONFIG_SIZE 4096

/* Patched after compilation: MARKER, a NUL, then the key=value lines. */
static volatile const char CONFIG[CONFIG_SIZE] = MARKER;

static wchar_t *cfg_role, *cfg_python, *cfg_dll, *cfg_module, *cfg_attr, *cfg_service, *cfg_log;
static DWORD cfg_stop_seconds = 20;
static wchar_t exe_path[MAX_PATH * 4], exe_dir[MAX_PATH * 4];

static void die(const wchar_t *what, DWORD err) {
    fwprintf(stderr, L"%ls: %ls (error %lu)\n", exe_path, what, (unsigned long)err);
    exit(1);
}

static wchar_t *widen(const char *s, size_t n) {
    int len = MultiByteToWideChar(CP_UTF8, 0, s, (int)n, NULL, 0);
    wchar_t *w = calloc((size_t)len + 1, sizeof(wchar_t));
    if (!w) die(L"out of memory", 0);
    MultiByteToWideChar(CP_UTF8, 0, s, (int)n, w, len);
    return w;
}

/* Read the key=value lines after the marker. */
static void read_config(void) {
    char block[CONFIG_SIZE];
    for (size_t i = 0; i < CONFIG_SIZE; i++) block[i] = CONFIG[i];
    block[CONFIG_SIZE - 1] = 0;
    const char *p = block + sizeof(MARKER);
    if (!*p) die(L"this host has no configuration: ferrobus writes it into each copy", 0);
    while (*p) {
        const char *end = strchr(p, '\n');
        if (!end) end = p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (eq) {
            size_t klen = (size_t)(eq - p);
            wchar_t *v = widen(eq + 1, (size_t)(end - eq - 1));
            if (klen == 4 && !memcmp(p, "role", 4)) cfg_role = v;
            else if (klen == 6 && !memcmp(p, "python", 6)) cfg_python = v;
            else if (klen == 3 && !memcmp(p, "dll", 3)) cfg_dll = v;
            else if (klen == 6 && !memcmp(p, "module", 6)) cfg_module = v;
            else if (klen == 4 && !memcmp(p, "attr", 4)) cfg_attr = v;
            else if (klen == 7 && !memcmp(p, "service", 7)) cfg_service = v;
            else if (klen == 3 && !memcmp(p, "log", 3)) cfg_log = v;
            else if (klen == 12 && !memcmp(p, "stop_seconds", 12)) cfg_stop_seconds = (DWORD)wcstoul(v, NULL, 10);
        }
        p = *end ? end + 1 : end;
    }
    if (!cfg_role || !cfg_python || !cfg_module) die(L"incomplete host configuration", 0);
    if (!cfg_attr && wcscmp(cfg_role, L"script")) die(L"incomplete host configuration: no attr", 0);
}

/* exe_dir + "\\" + rel, made absolute and normal. */
static wchar_t *beside(const wchar_t *rel) {
    size_t n = wcslen(exe_dir) + wcslen(rel) + 2;
    wchar_t *joined = calloc(n, sizeof(wchar_t));
    wchar_t *full = calloc(MAX_PATH * 4, sizeof(wchar_t));
    if (!joined || !full) die(L"out of memory", 0);
    swprintf(joined, n, L"%ls\\%ls", exe_dir, rel);
    if (!GetFullPathNameW(joined, MAX_PATH * 4, full, NULL)) die(L"bad path in configuration", GetLastError());
    free(joined);
    return full;
}

/* The Python code that runs the entry point: argv[0] becomes this program.
 * In process (a service), SystemExit must not reach Py_Main, which would end
 * the process from inside Python (Py_Exit) before the service manager hears
 * of it: the code is caught and handed back in FERROBUS_EXIT_CODE. */
static wchar_t *bootstrap(int service) {
    const wchar_t *head_end = wcschr(cfg_attr, L'.');
    size_t head_len = head_end ? (size_t)(head_end - cfg_attr) : wcslen(cfg_attr);
    size_t n = wcslen(cfg_module) + 2 * wcslen(cfg_attr) + 640;
    wchar_t *code = calloc(n, sizeof(wchar_t));
    if (!code) die(L"out of memory", 0);
    if (service)
        swprintf(code, n,
                 L"import sys, os\n"
                 L"sys.executable = sys._base_executable = os.path.join(sys.prefix, 'python.exe')\n"
                 L"sys.argv.pop(0)\n"
                 L"from %ls import %.*ls\n"
                 L"try:\n    rc = %ls()\nexcept SystemExit as e:\n    rc = e.code\n"
                 L"if rc is not None and not isinstance(rc, int):\n    print(rc, file=sys.stderr)\n    rc = 1\n"
                 L"os.environ['FERROBUS_EXIT_CODE'] = str(rc or 0)\n",
                 cfg_module, (int)head_len, cfg_attr, cfg_attr);
    else
        swprintf(code, n, L"import sys; sys.argv.pop(0); from %ls import %.*ls; sys.exit(%ls())",
                 cfg_module, (int)head_len, cfg_attr, cfg_attr);
    return code;
}

/* ---- role=console ---------------------------------------------------------- */

static BOOL WINAPI ignore_ctrl(DWORD type) {
    (void)type;
    return TRUE; /* the child has the same console: it handles Ctrl-C itself */
}

/* This program's arguments, as typed: the command line after argv[0]. */
static const wchar_t *own_arguments(void) {
    const wchar_t *p = GetCommandLineW();
    if (*p == L'"') {
        p++;
        while (*p && *p != L'"') p++;
        if (*p) p++;
    } else {
        while (*p && *p != L' ' && *p != L'\t') p++;
    }
    while (*p == L' ' || *p == L'\t') p++;
    return p;
}

/* Quote one argument for CommandLineToArgvW / the C runtime's parser. */
static void append_quoted(wchar_t *out, const wchar_t *arg) {
    wchar_t *o = out + wcslen(out);
    *o++ = L'"';
    for (const wchar_t *p = arg;; p++) {
        size_t slashes = 0;
        while (*p == L'\\') { p++; slashes++; }
        if (!*p) {
            for (size_t i = 0; i < slashes * 2; i++) *o++ = L'\\';
            break;
        }
        if (*p == L'"') {
            for (size_t i = 0; i < slashes * 2 + 1; i++) *o++ = L'\\';
        } else {
            for (size_t i = 0; i < slashes; i++) *o++ = L'\\';
        }
        *o++ = *p;
    }
    *o++ = L'"';
    *o = 0;
}

static int run_console(void) {
    wchar_t *python = beside(cfg_python);
    wchar_t *code = bootstrap(0);
    const wchar_t *rest = own_arguments();
    size_t n = 2 * (wcslen(python) + wcslen(code) + wcslen(exe_path)) + wcslen(rest) + 64;
    wchar_t *cmd = calloc(n, sizeof(wchar_t));
    if (!cmd) die(L"out of memory", 0);
    append_quoted(cmd, python);
    wcscat(cmd, L" -B -c ");
    append_quoted(cmd, code);
    wcscat(cmd, L" ");
    append_quoted(cmd, exe_path);
    if (*rest) {
        wcscat(cmd, L" ");
        wcscat(cmd, rest);
    }
    SetConsoleCtrlHandler(ignore_ctrl, TRUE);
    /* The child dies with the launcher (killed from a task manager, say). */
    HANDLE job = CreateJobObjectW(NULL, NULL);
    if (job) {
        JOBOBJECT_EXTENDED_LIMIT_INFORMATION info;
        memset(&info, 0, sizeof info);
        info.BasicLimitInformation.LimitFlags =
            JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK;
        SetInformationJobObject(job, JobObjectExtendedLimitInformation, &info, sizeof info);
    }
    STARTUPINFOW si;
    PROCESS_INFORMATION pi;
    memset(&si, 0, sizeof si);
    si.cb = sizeof si;
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = GetStdHandle(STD_INPUT_HANDLE);
    si.hStdOutput = GetStdHandle(STD_OUTPUT_HANDLE);
    si.hStdError = GetStdHandle(STD_ERROR_HANDLE);
    if (!CreateProcessW(python, cmd, NULL, NULL, TRUE, CREATE_SUSPENDED, NULL, NULL, &si, &pi)) {
        fwprintf(stderr, L"%ls: cannot run %ls (error %lu)\n", exe_path, python,
                 (unsigned long)GetLastError());
        return 1;
    }
    if (job) AssignProcessToJobObject(job, pi.hProcess);
    ResumeThread(pi.hThread);
    CloseHandle(pi.hThread);
    WaitForSingleObject(pi.hProcess, INFINITE);
    DWORD rc = 1;
    GetExitCodeProcess(pi.hProcess, &rc);
    return (int)rc;
}

/* ---- role=service ---------------------------------------------------------- */

typedef int(__cdecl *py_main_fn)(int, wchar_t **);
typedef int(__cdecl *py_interrupt_fn)(int);

static SERVICE_STATUS_HANDLE status_handle;
static HANDLE log_handle = INVALID_HANDLE_VALUE;

/* One line of the service host's own into the log (UTF-8). */
static void say(const wchar_t *fmt, ...) {
    wchar_t line[1024];
    va_list ap;
    va_start(ap, fmt);
    vswprintf(line, 1024, fmt, ap);
    va_end(ap);
    char utf8[4096];
    int n = WideCharToMultiByte(CP_UTF8, 0, line, -1, utf8, sizeof utf8, NULL, NULL);
    DWORD written;
    if (n > 1 && log_handle != INVALID_HANDLE_VALUE) WriteFile(log_handle, utf8, (DWORD)(n - 1), &written, NULL);
}
static SERVICE_STATUS status;
static py_interrupt_fn py_interrupt;
static volatile LONG stopping;
static HANDLE python_done;

static void report(DWORD state, DWORD exit_code, DWORD wait_ms) {
    status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
    status.dwCurrentState = state;
    status.dwControlsAccepted =
        state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
    status.dwWin32ExitCode = exit_code ? ERROR_SERVICE_SPECIFIC_ERROR : NO_ERROR;
    status.dwServiceSpecificExitCode = exit_code;
    status.dwWaitHint = wait_ms;
    if (state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING) status.dwCheckPoint++;
    else status.dwCheckPoint = 0;
    SetServiceStatus(status_handle, &status);
}

/* SIGTERM now; SIGINT after stop_seconds; then the process ends. */
static DWORD WINAPI stop_watch(LPVOID arg) {
    (void)arg;
    DWORD grace = cfg_stop_seconds * 1000;
    if (py_interrupt) py_interrupt(15);
    for (DWORD waited = 0; waited < grace; waited += 1000) {
        if (WaitForSingleObject(python_done, 1000) == WAIT_OBJECT_0) return 0;
        report(SERVICE_STOP_PENDING, 0, 3000);
    }
    say(L"%ls: no exit %lu s after SIGTERM: SIGINT\r\n", cfg_service, (unsigned long)cfg_stop_seconds);
    if (py_interrupt) py_interrupt(2);
    if (WaitForSingleObject(python_done, 10000) == WAIT_OBJECT_0) return 0;
    say(L"%ls: still running: ending the process\r\n", cfg_service);
    report(SERVICE_STOPPED, 1, 0);
    ExitProcess(1);
}

static DWORD WINAPI control(DWORD code, DWORD type, LPVOID data, LPVOID ctx) {
    (void)type;
    (void)data;
    (void)ctx;
    switch (code) {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_SHUTDOWN:
        if (InterlockedExchange(&stopping, 1) == 0) {
            report(SERVICE_STOP_PENDING, 0, 3000);
            HANDLE t = CreateThread(NULL, 0, stop_watch, NULL, 0, NULL);
            if (t) CloseHandle(t);
        }
        return NO_ERROR;
    case SERVICE_CONTROL_INTERROGATE:
        return NO_ERROR;
    default:
        return ERROR_CALL_NOT_IMPLEMENTED;
    }
}

/* stdout and stderr (the C runtime's descriptors 1 and 2, which python3XY.dll
 * shares through ucrtbase) appended to the configured log. */
static void redirect_output(void) {
    if (!cfg_log || !*cfg_log) return;
    wchar_t path[MAX_PATH * 4];
    const wchar_t *rel = cfg_log;
    if (!wcsncmp(rel, L"%TEMP%\\", 7)) {
        DWORD n = GetTempPathW(MAX_PATH * 4, path);
        if (!n || n >= MAX_PATH * 4) return;
        if (path[n - 1] == L'\\') path[n - 1] = 0;
        rel += 7;
    } else if (SHGetFolderPathW(NULL, CSIDL_COMMON_APPDATA, NULL, 0, path) != S_OK) {
        return;
    }
    if (wcslen(path) + wcslen(rel) + 2 >= MAX_PATH * 4) return;
    wcscat(path, L"\\");
    wcscat(path, rel);
    /* Every missing directory on the way. */
    for (wchar_t *p = path + 3; *p; p++) {
        if (*p == L'\\') {
            *p = 0;
            CreateDirectoryW(path, NULL);
            *p = L'\\';
        }
    }
    log_handle = CreateFileW(path, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                             NULL, OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
    if (log_handle == INVALID_HANDLE_VALUE) return;
    SetStdHandle(STD_OUTPUT_HANDLE, log_handle);
    SetStdHandle(STD_ERROR_HANDLE, log_handle);
    HANDLE dup;
    for (int fd = 1; fd <= 2; fd++) {
        if (!DuplicateHandle(GetCurrentProcess(), log_handle, GetCurrentProcess(), &dup, 0, FALSE,
                             DUPLICATE_SAME_ACCESS))
            continue;
        int crt = _open_osfhandle((intptr_t)dup, _O_APPEND | _O_BINARY);
        if (crt >= 0) {
            _dup2(crt, fd);
            _close(crt);
        }
    }
}

static void WINAPI service_main(DWORD argc, wchar_t **argv) {
    status_handle = RegisterServiceCtrlHandlerExW(cfg_service, control, NULL);
    if (!status_handle) return;
    report(SERVICE_START_PENDING, 0, 10000);
    redirect_output();
    say(L"%ls: control handler registered\r\n", cfg_service);
    wchar_t *dll_path = beside(cfg_dll);
    HMODULE py = LoadLibraryExW(dll_path, NULL, LOAD_WITH_ALTERED_SEARCH_PATH);
    py_main_fn py_main = py ? (py_main_fn)(void (*)(void))GetProcAddress(py, "Py_Main") : NULL;
    py_interrupt = py ? (py_interrupt_fn)(void (*)(void))GetProcAddress(py, "PyErr_SetInterruptEx") : NULL;
    if (!py_main || !py_interrupt) {
        say(L"%ls: cannot load Py_Main and PyErr_SetInterruptEx from %ls (error %lu)\r\n", cfg_service,
            dll_path, (unsigned long)GetLastError());
        report(SERVICE_STOPPED, 1, 0);
        return;
    }
    /* python.exe -B -c <bootstrap> <this program> <command line args> <StartService args> */
    int cl_argc = 0;
    wchar_t **cl = CommandLineToArgvW(GetCommandLineW(), &cl_argc);
    int n = 0;
    wchar_t **args = calloc((size_t)cl_argc + argc + 8, sizeof(wchar_t *));
    if (!args) die(L"out of memory", 0);
    args[n++] = beside(cfg_python);
    args[n++] = L"-B";
    args[n++] = L"-c";
    args[n++] = bootstrap(1);
    args[n++] = exe_path;
    for (int i = 1; cl && i < cl_argc; i++) args[n++] = cl[i];
    for (DWORD i = 1; i < argc; i++) args[n++] = argv[i];
    args[n] = NULL;
    python_done = CreateEventW(NULL, TRUE, FALSE, NULL);
    report(SERVICE_RUNNING, 0, 0);
    say(L"%ls: starting %ls:%ls\r\n", cfg_service, cfg_module, cfg_attr);
    int rc = py_main(n, args);
    wchar_t code[32];
    if (rc == 0 && GetEnvironmentVariableW(L"FERROBUS_EXIT_CODE", code, 32) > 0) rc = (int)wcstol(code, NULL, 10);
    say(L"%ls: %ls:%ls returned %d%ls\r\n", cfg_service, cfg_module, cfg_attr, rc,
        stopping ? L" (stopped)" : L"");
    SetEvent(python_done);
    fflush(stdout);
    fflush(stderr);
    if (rc != 0 && !stopping) {
        /* Not asked to stop: a failure the service manager's recovery handles. */
        ExitProcess((UINT)rc);
    }
    report(SERVICE_STOPPED, (DWORD)rc, 0);
}

static int run_service(void) {
    if (!cfg_service || !cfg_dll) die(L"a service host needs service= and dll=", 0);
    SERVICE_TABLE_ENTRYW table[] = {{cfg_service, service_main}, {NULL, NULL}};
    if (!StartServiceCtrlDispatcherW(table)) {
        DWORD err = GetLastError();
        if (err == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) {
            fwprintf(stderr, L"%ls: the service host of \"%ls\": the service manager starts it (sc start %ls)\n",
                     exe_path, cfg_service, cfg_service);
            return 1;
        }
        die(L"StartServiceCtrlDispatcher failed", err);
    }
    return 0;
}

/* ---- role=script ----------------------------------------------------------- */

static int run_script(void) {
    if (!cfg_dll) die(L"a script host needs dll=", 0);
    redirect_output();
    int nul = _wopen(L"NUL", _O_RDONLY | _O_BINARY);
    if (nul >= 0) {
        _dup2(nul, 0);
        _close(nul);
    }
    wchar_t *dll_path = beside(cfg_dll);
    HMODULE py = LoadLibraryExW(dll_path, NULL, LOAD_WITH_ALTERED_SEARCH_PATH);
    py_main_fn py_main = py ? (py_main_fn)(void (*)(void))GetProcAddress(py, "Py_Main") : NULL;
    if (!py_main) die(L"cannot load Py_Main from the bundle's python3XY.dll", GetLastError());
    /* python.exe -I -B <script> <this program's arguments> */
    int cl_argc = 0;
    wchar_t **cl = CommandLineToArgvW(GetCommandLineW(), &cl_argc);
    wchar_t **args = calloc((size_t)cl_argc + 8, sizeof(wchar_t *));
    if (!args) die(L"out of memory", 0);
    int n = 0;
    args[n++] = beside(cfg_python);
    args[n++] = L"-I";
    args[n++] = L"-B";
    args[n++] = beside(cfg_module);
    for (int i = 1; cl && i < cl_argc; i++) args[n++] = cl[i];
    args[n] = NULL;
    int rc = py_main(n, args);
    fflush(stdout);
    fflush(stderr);
    return rc;
}

int wmain(void) {
    DWORD n = GetModuleFileNameW(NULL, exe_path, MAX_PATH * 4);
    if (!n || n >= MAX_PATH * 4) die(L"cannot find this program's path", GetLastError());
    wcscpy(exe_dir, exe_path);
    wchar_t *slash = wcsrchr(exe_dir, L'\\');
    if (slash) *slash = 0;
    read_config();
    if (!wcscmp(cfg_role, L"console")) return run_console();
    if (!wcscmp(cfg_role, L"service")) return run_service();
    if (!wcscmp(cfg_role, L"script")) return run_script();
    die(L"unknown role in configuration", 0);
    return 1;
}
