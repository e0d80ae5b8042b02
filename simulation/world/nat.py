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

The admission rule itself (a packet at t is admitted iff t is before the binding's expiry;
an admitted inbound packet refreshes it iff `inbound_refresh`) is `BindingRule`: `Nat`
applies it to its state, and flow fidelity applies the same rule to the copies of an
exchange it computes ahead of the simulation (`transport/exchange.py`).

Memory (10^5 to 10^6 devices): a simulation has a handful of distinct remote endpoints
(manager, gateway, broker), so state lives in arrays: per protocol, the last refresh of
every device's mapping, and a column per distinct filter key for the filter entries
(-inf where never opened). That is 8 bytes per device and protocol, plus 8 per device,
protocol and remote, however many packets pass; arrays grow as device ids appear.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulation.errors import ScenarioError
from simulation.scenario.schema import FILTERING

PROTOS = ("udp", "tcp")


@dataclass(frozen=True)
class BindingRule:
    """When one binding admits inbound packets (RFC 4787 REQ-5, REQ-6).

    Times are seconds on any common clock; `open_until` is the binding's expiry (an
    inbound packet at t is admitted iff t < open_until). `timeout_s` is +inf where no NAT
    sits on the path.
    """

    timeout_s: float
    inbound_refresh: bool

    def refreshed(self, t: float) -> float:
        """The expiry of a binding refreshed at t."""
        return t + self.timeout_s

    def inbound(self, t: float, open_until: float) -> tuple[bool, float]:
        """An inbound packet at t: whether it is admitted, and the binding's expiry after
        it (refreshed iff admitted and `inbound_refresh`; a drop refreshes nothing)."""
        admitted = t < open_until
        if admitted and self.inbound_refresh:
            open_until = max(open_until, t + self.timeout_s)
        return admitted, open_until

    def admitted(self, times: np.ndarray, open_until: np.ndarray) -> np.ndarray:
        """`inbound` over sequences: row r holds inbound packets at `times[r]` (ascending),
        its binding open until `open_until[r]` before the first; which are admitted."""
        times = np.asarray(times, dtype=float)
        until = np.array(open_until, dtype=float)
        ok = np.zeros(times.shape, dtype=bool)
        for j in range(times.shape[1]):
            ok[:, j] = times[:, j] < until
            if self.inbound_refresh:
                until = np.where(ok[:, j], np.maximum(until, times[:, j] + self.timeout_s),
                                 until)
        return ok


#: the rule where no NAT sits on the path: every inbound packet is admitted
NO_NAT = BindingRule(math.inf, False)


class Nat:
    """Endpoint-independent mapping NAT with configurable filtering; see the module docstring.

    Attributes:
        dropped: inbound packets dropped so far.
    """

    def __init__(self, udp_timeout_s: float, tcp_timeout_s: float, filtering: str,
                 inbound_refresh: bool, enabled: bool = True, devices: int = 0):
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
        self._rules = {proto: BindingRule(float(timeout), self.inbound_refresh)
                       for proto, timeout in (("udp", udp_timeout_s), ("tcp", tcp_timeout_s))}
        # proto -> last refresh of each device's mapping (index = device id).
        self._mappings = {proto: np.full(0, -math.inf) for proto in PROTOS}
        # proto -> last refresh of each (device, filter key) entry; columns per key, where
        # a key is the address or the (address, port) of a remote.
        self._filters = {proto: np.full((0, 0), -math.inf) for proto in PROTOS}
        self._columns: dict = {}
        if devices > 0:
            self._grow(devices - 1, None)   # size for the fleet at once

    # -- helpers ----------------------------------------------------------------------

    def rule(self, proto: str = "udp") -> BindingRule:
        """The admission rule of this NAT's `proto` bindings (`NO_NAT` when disabled)."""
        try:
            rule = self._rules[proto]
        except KeyError:
            raise ScenarioError(f"nat proto {proto!r} is unknown; expected udp or tcp") from None
        return rule if self.enabled else NO_NAT

    def _column(self, remote: tuple[str, int], create: bool) -> int | None:
        """Filter column of `remote` (None under endpoint-independent filtering, -1 for a
        key never seen when not creating)."""
        if self.filtering == "endpoint-independent":
            return None
        key = remote[0] if self.filtering == "address-dependent" else tuple(remote)
        col = self._columns.get(key)
        if col is None:
            if not create:
                return -1
            col = self._columns[key] = len(self._columns)
        return col

    def _grow(self, device: int, col: int | None) -> None:
        n = len(self._mappings["udp"])
        cols = self._filters["udp"].shape[1]
        need_n = max(n, device + 1)
        need_c = max(cols, (col + 1) if col is not None else 0)
        if need_n == n and need_c == cols:
            return
        new_n = max(need_n, 2 * n) if need_n > n else n
        for proto in PROTOS:
            m = np.full(new_n, -math.inf)
            m[:n] = self._mappings[proto]
            self._mappings[proto] = m
            f = np.full((new_n, need_c), -math.inf)
            f[:n, :cols] = self._filters[proto]
            self._filters[proto] = f

    def _refresh(self, device: int, remote: tuple[str, int], t: float, proto: str) -> None:
        """Refresh the mapping of (device, proto) and the filter entry of `remote` to t."""
        col = self._column(remote, create=True)
        self._grow(device, col)
        m = self._mappings[proto]
        m[device] = max(m[device], t)
        if col is not None:
            f = self._filters[proto]
            f[device, col] = max(f[device, col], t)

    # -- API --------------------------------------------------------------------------

    def outbound(self, device: int, remote: tuple[str, int], t: float, proto: str = "udp") -> None:
        """A packet from the device to remote passes the NAT at time t: creates or
        refreshes the mapping and the filter entry for remote."""
        self.rule(proto)
        if self.enabled:
            self._refresh(device, remote, t, proto)

    def expires_at(self, device: int, remote: tuple[str, int], proto: str = "udp") -> float:
        """Time from which an inbound packet from remote is no longer admitted.

        -inf if the mapping (or, when filtering, the entry for remote) was never opened;
        +inf when the NAT is disabled. An inbound at t is admitted iff t < expires_at.
        """
        rule = self.rule(proto)
        if not self.enabled:
            return math.inf
        m = self._mappings[proto]
        if device >= len(m) or m[device] == -math.inf:
            return -math.inf
        last = float(m[device])
        col = self._column(remote, create=False)
        if col is not None:
            f = self._filters[proto]
            if col < 0 or col >= f.shape[1]:
                return -math.inf
            last = min(last, float(f[device, col]))  # never newer than its mapping
        return rule.refreshed(last)

    def admits(self, device: int, remote: tuple[str, int], t, proto: str = "udp"):
        """Whether an inbound packet from remote at t (a time, or an array of them) would
        be admitted; no side effects."""
        expires = self.expires_at(device, remote, proto)
        if np.ndim(t):
            return self.rule(proto).admitted(np.reshape(t, (-1, 1)),
                                             np.full(np.size(t), expires))[:, 0]
        return self.rule(proto).inbound(t, expires)[0]

    def inbound(self, device: int, remote: tuple[str, int], t: float, proto: str = "udp") -> bool:
        """A packet from remote to the device reaches the NAT at t: True if admitted,
        False if dropped (counted in `dropped`). An admitted packet refreshes the mapping
        and its filter entry iff `inbound_refresh`."""
        rule = self.rule(proto)
        admitted, _ = rule.inbound(t, self.expires_at(device, remote, proto))
        if not admitted:
            self.dropped += 1
            return False
        if rule.inbound_refresh:        # NO_NAT (disabled) refreshes nothing
            self._refresh(device, remote, t, proto)
        return True

    def admitted_inbound(self, device: int, remote: tuple[str, int], t: float,
                         proto: str = "udp") -> None:
        """An inbound packet computed ahead of the simulation (flow fidelity) was admitted
        at t: it refreshes the binding as `inbound` would."""
        if self.rule(proto).inbound_refresh:
            self._refresh(device, remote, t, proto)

    def count_drops(self, packets: int) -> None:
        """Inbound packets dropped that were computed, not passed one by one (flow fidelity,
        polls booked in bulk)."""
        self.dropped += int(packets)

    def forget(self, device: int) -> None:
        """Drop every state of a device (mappings and filter entries of both protocols)."""
        for proto in PROTOS:
            if device < len(self._mappings[proto]):
                self._mappings[proto][device] = -math.inf
                self._filters[proto][device, :] = -math.inf

    def __len__(self) -> int:
        """Number of state entries ever opened and not forgotten (mappings plus filter
        entries), for memory checks."""
        return int(sum(np.isfinite(self._mappings[p]).sum() + np.isfinite(self._filters[p]).sum()
                       for p in PROTOS))
