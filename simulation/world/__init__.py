"""The simulated world: radio links and the NAT between the devices and the manager."""
