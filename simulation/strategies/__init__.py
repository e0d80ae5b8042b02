"""Update strategies of the draft, one module each, read like its message flows."""
from __future__ import annotations

from simulation.errors import ScenarioError
from simulation.strategies.delegated import Delegated
from simulation.strategies.device_initiated import DeviceInitiated
from simulation.strategies.device_polling import DevicePolling
from simulation.strategies.discovery import Discovery
from simulation.strategies.manager_initiated import ManagerInitiated
from simulation.strategies.manager_polling import ManagerPolling
from simulation.strategies.mqtt_coap import MqttCoap
from simulation.strategies.mqtt_http import MqttHttp

IMPLEMENTED = {cls.name: cls for cls in (DevicePolling, DeviceInitiated, ManagerInitiated,
                                         Discovery, ManagerPolling, Delegated, MqttHttp,
                                         MqttCoap)}
#: the strategies whose devices' energy is that of a cellular radio (see Strategy.cellular)
CELLULAR = tuple(name for name, cls in IMPLEMENTED.items() if cls.cellular)


def check_supported(scenario) -> None:
    """Refuse, before anything runs, what this version cannot simulate yet."""
    cls = strategy_class(scenario.strategy.name)
    cls.check(scenario)
    d = scenario.device
    slowest = max(cls.topology(scenario).classes,
                  key=lambda c: c.link.connect_s + c.link.rtt_s)
    shortest = slowest.link.connect_s + slowest.link.rtt_s
    if d.wake_interval_s < shortest:
        where = "on its link" if len(scenario.fleet.mix) < 2 else f"for {slowest.name}"
        raise ScenarioError(f"device.wake_interval_s = {d.wake_interval_s:g} is not allowed: "
                            "a device cannot wake again before it has connected and its "
                            f"report has been answered, link.connect_s + link.rtt_s = "
                            f"{shortest:g} s {where}")
    if d.cdrx_cycle_s and d.cdrx_on_s > d.cdrx_cycle_s:
        raise ScenarioError(f"device.cdrx_on_s = {d.cdrx_on_s} is not allowed: expected at "
                            f"most device.cdrx_cycle_s = {d.cdrx_cycle_s}")
    if d.edrx_cycle_s and not d.paging_cycle_s <= d.ptw_s <= d.edrx_cycle_s:
        raise ScenarioError(f"device.ptw_s = {d.ptw_s} is not allowed with eDRX: expected "
                            f"from device.paging_cycle_s = {d.paging_cycle_s} to "
                            f"device.edrx_cycle_s = {d.edrx_cycle_s}")
    if scenario.tls.version == "1.2" and scenario.tls.auth in ("psk_ecdhe", "rpk_ecdhe"):
        raise ScenarioError(f"tls.auth = {scenario.tls.auth!r} is not allowed with "
                            f"tls.version = '1.2': expected x509_low, x509_high or psk")


def strategy_class(name: str):
    """The class of a strategy, refusing one that is not built yet."""
    try:
        return IMPLEMENTED[name]
    except KeyError:
        raise ScenarioError(f"strategy.name = {name!r} is not implemented yet; available: "
                            f"{', '.join(sorted(IMPLEMENTED))}") from None
