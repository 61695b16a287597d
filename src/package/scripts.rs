//! scripts: maintainer scripts and systemd units rendered from `packaging/` templates.
