// systemd's readiness protocol (sd_notify(3)) without libsystemd: one datagram to $NOTIFY_SOCKET.
// Under `Type=notify` systemd waits for "READY=1" before it calls the service started, shows
// "RELOADING=1" / "STOPPING=1" as the unit's state, and ignores everything when the variable is unset.
#pragma once

#include <string_view>

namespace gh::systemd {

// Sends `state` (e.g. "READY=1\nSTATUS=serving") to $NOTIFY_SOCKET. Returns false when the variable
// is unset or the datagram could not be sent; the gateway runs the same either way.
bool notify(std::string_view state);

}  // namespace gh::systemd
