#!/bin/sh
# Package post-remove: let a running systemd forget the removed units.
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
