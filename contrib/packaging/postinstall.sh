#!/bin/sh
# Package post-install: let a running systemd see the new units. The timer stays disabled
# until the administrator enables it (systemctl enable --now mtls-doctor-textfile.timer).
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
