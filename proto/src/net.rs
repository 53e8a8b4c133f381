//! The container's network, as the host monitor found it in the
//! container's network namespace and hands it to the guest agent with
//! [`Request::ConfigureNetwork`](crate::agent::Request::ConfigureNetwork).
//!
//! Each [`Interface`] is a link of that namespace (a veth, as docker,
//! podman and CNI make them) that the monitor joined to a tap; the guest
//! has a virtio-net device with the same MAC, and the agent gives it the
//! link's name, MTU and addresses, then adds the routes and neighbours.
//!
//! What the kernel derives by itself is left out: IPv6 link-local
//! addresses (the guest makes its own from the same MAC), and the routes
//! an address brings along (the subnet route of `10.0.0.2/24`). What
//! callers add is in: a default route via a gateway, on-link routes, routes
//! through a device, IPv4 and IPv6 alike.
//!
//! The host sends `ConfigureNetwork` before `CreateContainer`, so hooks
//! and the container's process find the network ready; the guest's one
//! network namespace is the container's.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// An Ethernet (MAC) address.
pub type Mac = [u8; 6];

/// Everything the guest configures.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkConfig {
    pub interfaces: Vec<Interface>,
    /// Added after every interface is up, in order.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Permanent neighbour (ARP/NDP) entries.
    #[serde(default)]
    pub neighbours: Vec<Neighbour>,
}

/// One interface of the container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    /// The name it has on the host (`eth0`); the guest's link gets it too.
    pub name: String,
    /// The MAC of the host's link, which is also the guest device's: the
    /// agent finds the guest's link by it.
    pub mac: Mac,
    pub mtu: u32,
    pub addresses: Vec<IpNet>,
}

/// An address with its prefix length (`10.0.0.2/24`), or a subnet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpNet {
    pub address: IpAddr,
    pub prefix_len: u8,
}

impl std::fmt::Display for IpNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix_len)
    }
}

/// A route of the main table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Where it leads; a prefix length of 0 is the default route
    /// (`0.0.0.0/0`, `::/0`).
    pub destination: IpNet,
    /// The next hop; none for a route straight onto the link.
    #[serde(default)]
    pub gateway: Option<IpAddr>,
    /// The [`Interface::name`] it goes out of.
    pub interface: String,
    /// The preferred source address (`src`).
    #[serde(default)]
    pub source: Option<IpAddr>,
    /// The route's priority (`metric`); the kernel's default when none.
    #[serde(default)]
    pub metric: Option<u32>,
    /// The gateway is on the link even though no address's subnet holds it
    /// (`onlink`), as with a /32 address and a gateway outside it.
    #[serde(default)]
    pub onlink: bool,
}

/// A permanent neighbour entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Neighbour {
    /// The [`Interface::name`] it is on.
    pub interface: String,
    pub address: IpAddr,
    pub mac: Mac,
}

/// `aa:bb:cc:dd:ee:ff`, as `ip link` prints it.
pub fn format_mac(mac: &Mac) -> String {
    mac.iter()
        .map(|byte| format!("{byte:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_round_trips_and_optional_fields_may_be_left_out() {
        let json = r#"{
            "interfaces": [{"name": "eth0", "mac": [2, 66, 172, 17, 0, 2], "mtu": 1500,
                            "addresses": [{"address": "172.17.0.2", "prefix_len": 16},
                                          {"address": "fd00::2", "prefix_len": 64}]}],
            "routes": [{"destination": {"address": "0.0.0.0", "prefix_len": 0},
                        "gateway": "172.17.0.1", "interface": "eth0"}]
        }"#;
        let config: NetworkConfig = serde_json::from_str(json).unwrap();
        assert_eq!(config.interfaces[0].addresses[1].to_string(), "fd00::2/64");
        assert_eq!(
            config.routes[0].gateway,
            Some("172.17.0.1".parse().unwrap())
        );
        assert_eq!(config.routes[0].metric, None);
        assert!(!config.routes[0].onlink);
        assert!(config.neighbours.is_empty());
        let back: NetworkConfig =
            serde_json::from_str(&serde_json::to_string(&config).unwrap()).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn macs_print_as_ip_link_does() {
        assert_eq!(format_mac(&[2, 66, 172, 17, 0, 0xff]), "02:42:ac:11:00:ff");
    }
}
