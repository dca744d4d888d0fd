#!/bin/sh
# A Nagios-protocol plugin: the exit code comes from SHELL_PLUGIN_EXIT (default 0).
code="${SHELL_PLUGIN_EXIT:-0}"
echo "SHELL plugin says $code | load=0.5;1;2;0; users=3"
echo "second line is ignored"
exit "$code"
