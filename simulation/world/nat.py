"""NAT / stateful firewall between the radio network and the manager (RFC 4787, RFC 5382).

A plain class with no SimPy: the caller passes the simulated time `t` (seconds, float).
Internal side: devices, named by an int id. External side: remote endpoints
``(address, port)``. `proto` is ``"udp"`` (RFC 4787) or ``"tcp"`` (RFC 5382).

Semantics:

* Mapping. One mapping per (device, proto): endpoint-independent mapping, RFC 4787 REQ-1
  (RFC 5382 REQ-1 for TCP), so every remote sees the device behind the same external
  address and port. Every outbound packet creates or refreshes it (RFC 4787 REQ-6:
  outbound refresh is mandatory).
* Timeout. A mapping or filter entry refreshed last at t0 admits an inbound packet at t
  iff ``t - t0 < timeout``: at exactly ``t0 + timeout`` it has expired. ``timeout`` is
  `udp_timeout_s` (RFC 4787 REQ-5 asks for at least 120 s) or `tcp_timeout_s` (RFC 5382
  REQ-5: at least 2 h 4 min for an established connection), chosen by proto.
* Filtering (RFC 4787 REQ-8), `filtering` is one of `FILTERING`:
  ``endpoint-independent`` admits an inbound packet from any remote while the mapping
  lives; ``address-dependent`` only from an address the device sent to, while that filter
  entry lives (``t`` minus the last outbound to that address ``< timeout``);
  ``address-port-dependent`` likewise per (address, port).
* Inbound refresh. With `inbound_refresh` an admitted inbound packet refreshes the mapping
  and its filter entry (Linux conntrack); without it, it refreshes nothing (RFC 4787
  REQ-6 makes inbound refresh optional). A dropped packet never refreshes anything.
* ``enabled=False``: no state is kept, every packet is admitted, nothing is counted.

Times that arrive out of order never shorten a life: a refresh keeps the latest time.

Memory (10^5 to 10^6 devices): state lives in three flat dicts keyed by tuples, no
per-device objects. Expired entries are not swept on their own (a device that opens a new
filter entry prunes its expired ones); `forget` removes every entry of a device.
"""
from __future__ import annotations

import math

from simulation.errors import ScenarioError

#: filtering behaviours of RFC 4787 REQ-8, from the most to the least permissive.
FILTERING = ("endpoint-independent", "address-dependent", "address-port-dependent")

PROTOS = ("udp", "tcp")


class Nat:
    """Endpoint-independent mapping NAT with configurable filtering; see the module docstring.

    Attributes:
        dropped: inbound packets dropped so far.
    """

    def __init__(self, udp_timeout_s: float, tcp_timeout_s: float, filtering: str,
                 inbound_refresh: bool, enabled: bool = True):
        if filtering not in FILTERING:
            raise ScenarioError(f"nat filtering {filtering!r} is unknown; "
                                f"expected one of {', '.join(FILTERING)}")
        for name, value in (("udp_timeout_s", udp_timeout_s), ("tcp_timeout_s", tcp_timeout_s)):
            if not (isinstance(value, (int, float)) and not isinstance(value, bool)
                    and math.isfinite(value) and value > 0):
                raise ScenarioError(f"nat {name} must be a positive finite number of "
                                    f"seconds, got {value!r}")
        self.filtering = filtering
        self.inbound_refresh = bool(inbound_refresh)
        self.enabled = bool(enabled)
        self.dropped = 0
        self._timeout = {"udp": float(udp_timeout_s), "tcp": float(tcp_timeout_s)}
        # (device, proto) -> time of the last refresh of the mapping.
        self._mappings: dict[tuple[int, str], float] = {}
        # (device, proto, key) -> time of the last refresh of the filter entry, where key
        # is the address or the (address, port) of the remote; unused when filtering is
        # endpoint-independent.
        self._filters: dict[tuple, float] = {}
        # (device, proto) -> filter keys of that mapping, so that pruning and `forget`
        # touch only the device's own entries.
        self._keys: dict[tuple[int, str], tuple] = {}

    # -- helpers ----------------------------------------------------------------------

    def _timeout_of(self, proto: str) -> float:
        try:
            return self._timeout[proto]
        except KeyError:
            raise ScenarioError(f"nat proto {proto!r} is unknown; expected udp or tcp") from None

    def _key(self, remote: tuple[str, int]):
        """Filter key of `remote`, or None under endpoint-independent filtering."""
        if self.filtering == "address-dependent":
            return remote[0]
        if self.filtering == "address-port-dependent":
            return tuple(remote)
        return None

    def _refresh(self, device: int, remote: tuple[str, int], t: float, proto: str) -> None:
        """Refresh the mapping of (device, proto) and the filter entry of `remote` to t."""
        mkey = (device, proto)
        self._mappings[mkey] = max(t, self._mappings.get(mkey, t))
        key = self._key(remote)
        if key is None:
            return
        fkey = (device, proto, key)
        old = self._filters.get(fkey)
        if old is not None:
            self._filters[fkey] = max(t, old)
            return
        # A new filter entry: prune the device's expired ones first, so a device that
        # talks to many remotes keeps only the live ones.
        timeout = self._timeout[proto]
        live = []
        for k in self._keys.get(mkey, ()):
            if t - self._filters[(device, proto, k)] < timeout:
                live.append(k)
            else:
                del self._filters[(device, proto, k)]
        live.append(key)
        self._keys[mkey] = tuple(live)
        self._filters[fkey] = t

    # -- API --------------------------------------------------------------------------

    def outbound(self, device: int, remote: tuple[str, int], t: float, proto: str = "udp") -> None:
        """A packet from the device to remote passes the NAT at time t: creates or
        refreshes the mapping and the filter entry for remote."""
        self._timeout_of(proto)
        if self.enabled:
            self._refresh(device, remote, t, proto)

    def expires_at(self, device: int, remote: tuple[str, int], proto: str = "udp") -> float:
        """Time from which an inbound packet from remote is no longer admitted.

        -inf if the mapping (or, when filtering, the entry for remote) was never opened or
        has been pruned after it expired; +inf when the NAT is disabled. An inbound at t is admitted iff t < expires_at.
        """
        timeout = self._timeout_of(proto)
        if not self.enabled:
            return math.inf
        last = self._mappings.get((device, proto))
        if last is None:
            return -math.inf
        key = self._key(remote)
        if key is not None:
            entry = self._filters.get((device, proto, key))
            if entry is None:
                return -math.inf
            last = min(last, entry)  # the entry is never newer than its mapping
        return last + timeout

    def admits(self, device: int, remote: tuple[str, int], t: float, proto: str = "udp") -> bool:
        """Whether an inbound packet from remote at t would be admitted; no side effects."""
        return t < self.expires_at(device, remote, proto)

    def inbound(self, device: int, remote: tuple[str, int], t: float, proto: str = "udp") -> bool:
        """A packet from remote to the device reaches the NAT at t: True if admitted,
        False if dropped (counted in `dropped`). An admitted packet refreshes the mapping
        and its filter entry iff `inbound_refresh`."""
        if not self.admits(device, remote, t, proto):
            self.dropped += 1
            return False
        if self.enabled and self.inbound_refresh:
            self._refresh(device, remote, t, proto)
        return True

    def forget(self, device: int) -> None:
        """Drop every state of a device (mappings and filter entries of both protocols)."""
        for proto in PROTOS:
            mkey = (device, proto)
            self._mappings.pop(mkey, None)
            for k in self._keys.pop(mkey, ()):
                self._filters.pop((device, proto, k), None)

    def __len__(self) -> int:
        """Number of state entries held (mappings plus filter entries), for memory checks."""
        return len(self._mappings) + len(self._filters)
