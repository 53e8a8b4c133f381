//! `ConfigureNetwork`: the guest's network made like the container's on
//! the host (see [`proto::net`]).
//!
//! The container has the guest's own network namespace, so this configures
//! the guest: each interface's virtio-net link, found by its MAC, gets the
//! interface's name, MTU and addresses and goes up; then the routes and the
//! neighbours are added. Loopback is up from boot (`main.rs`). Adding an
//! address, route or neighbour that is there already replaces it, so a
//! configuration that failed half-way may be sent again.

use std::collections::HashMap;

use proto::net::{format_mac, Interface, NetworkConfig};
use rtnl::{Address, Link, Neighbour, Route, Rtnl};

/// Why the network could not be configured; each names what failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("network: {0}")]
    Netlink(#[from] rtnl::Error),
    #[error("interface {name}: no network device has MAC {mac}")]
    NoDevice { name: String, mac: String },
    #[error("interface {name}: {error}")]
    Interface { name: String, error: rtnl::Error },
    #[error("route {route}: no interface {interface}")]
    RouteInterface { route: String, interface: String },
    #[error("route {route}: {error}")]
    Route { route: String, error: rtnl::Error },
    #[error("neighbour {address}: no interface {interface}")]
    NeighbourInterface { address: String, interface: String },
    #[error("neighbour {address}: {error}")]
    Neighbour { address: String, error: rtnl::Error },
}

/// Configures the guest's network as `network` says.
pub fn configure(network: &NetworkConfig) -> Result<(), Error> {
    let mut rtnl = Rtnl::open()?;
    let links = rtnl.links()?;
    let matched = match_links(&network.interfaces, &links)?;
    // Two steps, so that swapping names (the device the kernel called eth0
    // is to be eth1, and the other way round) never meets a name in use.
    for (interface, link) in &matched {
        if link.name != interface.name {
            rtnl.set_name(link.index, &temporary_name(link.index))
                .map_err(|error| interface_error(interface, error))?;
        }
    }
    for (interface, link) in &matched {
        configure_interface(&mut rtnl, interface, link)
            .map_err(|error| interface_error(interface, error))?;
    }
    let indexes: HashMap<&str, u32> = matched
        .iter()
        .map(|(interface, link)| (interface.name.as_str(), link.index))
        .collect();
    for route in &network.routes {
        let route_text = describe_route(route);
        let index =
            *indexes
                .get(route.interface.as_str())
                .ok_or_else(|| Error::RouteInterface {
                    route: route_text.clone(),
                    interface: route.interface.clone(),
                })?;
        rtnl.add_route(&guest_route(route, index))
            .map_err(|error| Error::Route {
                route: route_text,
                error,
            })?;
    }
    for neighbour in &network.neighbours {
        let address = neighbour.address.to_string();
        let index = *indexes.get(neighbour.interface.as_str()).ok_or_else(|| {
            Error::NeighbourInterface {
                address: address.clone(),
                interface: neighbour.interface.clone(),
            }
        })?;
        rtnl.add_neighbour(&Neighbour {
            index,
            address: neighbour.address,
            mac: neighbour.mac,
        })
        .map_err(|error| Error::Neighbour { address, error })?;
    }
    Ok(())
}

/// Each interface with the guest link that has its MAC.
fn match_links<'a>(
    interfaces: &'a [Interface],
    links: &'a [Link],
) -> Result<Vec<(&'a Interface, &'a Link)>, Error> {
    interfaces
        .iter()
        .map(|interface| {
            links
                .iter()
                .find(|link| link.mac == Some(interface.mac))
                .map(|link| (interface, link))
                .ok_or_else(|| Error::NoDevice {
                    name: interface.name.clone(),
                    mac: format_mac(&interface.mac),
                })
        })
        .collect()
}

/// A name no kernel or caller gives (`runvm<index>` fits IFNAMSIZ).
fn temporary_name(index: u32) -> String {
    format!("runvm{index}")
}

/// Name (the link is still down: the guest's kernel renames only those),
/// MTU, up, addresses.
fn configure_interface(
    rtnl: &mut Rtnl,
    interface: &Interface,
    link: &Link,
) -> Result<(), rtnl::Error> {
    if link.name != interface.name {
        rtnl.set_name(link.index, &interface.name)?;
    }
    rtnl.set_mtu(link.index, interface.mtu)?;
    rtnl.set_up(link.index)?;
    for address in &interface.addresses {
        rtnl.add_address(&Address {
            index: link.index,
            address: address.address,
            prefix_len: address.prefix_len,
        })?;
    }
    Ok(())
}

fn interface_error(interface: &Interface, error: rtnl::Error) -> Error {
    Error::Interface {
        name: interface.name.clone(),
        error,
    }
}

/// `route` through the guest's link `index`.
fn guest_route(route: &proto::net::Route, index: u32) -> Route {
    Route {
        destination: route.destination.address,
        prefix_len: route.destination.prefix_len,
        gateway: route.gateway,
        index: Some(index),
        source: route.source,
        metric: route.metric,
        onlink: route.onlink,
    }
}

/// `default via 10.0.0.1 dev eth0`, as `ip route` says it.
fn describe_route(route: &proto::net::Route) -> String {
    let destination = if route.destination.prefix_len == 0 {
        "default".to_string()
    } else {
        route.destination.to_string()
    };
    match route.gateway {
        Some(gateway) => format!("{destination} via {gateway} dev {}", route.interface),
        None => format!("{destination} dev {}", route.interface),
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use proto::net::IpNet;
    use rtnl::link::OperState;
    use rtnl::testing::in_new_network_namespace;

    use super::*;

    fn net(text: &str) -> IpNet {
        let (address, prefix_len) = text.split_once('/').unwrap();
        IpNet {
            address: address.parse().unwrap(),
            prefix_len: prefix_len.parse().unwrap(),
        }
    }

    fn route(destination: &str, gateway: Option<&str>, interface: &str) -> proto::net::Route {
        proto::net::Route {
            destination: net(destination),
            gateway: gateway.map(|gateway| gateway.parse().unwrap()),
            interface: interface.into(),
            source: None,
            metric: None,
            onlink: false,
        }
    }

    fn link(index: u32, name: &str, mac: Option<[u8; 6]>) -> Link {
        Link {
            index,
            name: name.into(),
            mac,
            mtu: 1500,
            kind: None,
            up: false,
            oper_state: OperState::Down,
        }
    }

    fn interface(name: &str, mac: [u8; 6]) -> Interface {
        Interface {
            name: name.into(),
            mac,
            mtu: 1500,
            addresses: vec![],
        }
    }

    #[test]
    fn interfaces_find_their_link_by_mac_whatever_its_name() {
        let links = [
            link(1, "lo", None),
            link(2, "eth0", Some([2, 0, 0, 0, 0, 2])),
            link(3, "eth1", Some([2, 0, 0, 0, 0, 1])),
        ];
        let interfaces = [
            interface("eth0", [2, 0, 0, 0, 0, 1]),
            interface("eth1", [2, 0, 0, 0, 0, 2]),
        ];
        let matched = match_links(&interfaces, &links).unwrap();
        let indexes: Vec<_> = matched.iter().map(|(_, link)| link.index).collect();
        assert_eq!(indexes, [3, 2]);

        let missing = [interface("net1", [2, 0, 0, 0, 0, 0xab])];
        let error = match_links(&missing, &links).unwrap_err();
        assert_eq!(
            error.to_string(),
            "interface net1: no network device has MAC 02:00:00:00:00:ab"
        );
    }

    #[test]
    fn routes_read_as_ip_route_prints_them() {
        assert_eq!(
            describe_route(&route("0.0.0.0/0", Some("10.0.0.1"), "eth0")),
            "default via 10.0.0.1 dev eth0"
        );
        assert_eq!(
            describe_route(&route("fd00:1::/64", None, "eth1")),
            "fd00:1::/64 dev eth1"
        );
        let guest = guest_route(
            &proto::net::Route {
                metric: Some(7),
                onlink: true,
                ..route("10.1.0.0/16", Some("10.0.0.1"), "eth0")
            },
            4,
        );
        assert_eq!(guest.destination, "10.1.0.0".parse::<IpAddr>().unwrap());
        assert_eq!(
            (guest.prefix_len, guest.index, guest.metric, guest.onlink),
            (16, Some(4), Some(7), true)
        );
    }

    /// A veth end plays the guest's virtio-net device.
    #[test]
    fn a_configuration_is_applied_and_can_be_applied_again() {
        in_new_network_namespace(|| {
            let mut rtnl = Rtnl::open().unwrap();
            rtnl.add_veth("ve0", "ve1").unwrap();
            let device = rtnl.link("ve0").unwrap().unwrap();
            let peer = rtnl.link("ve1").unwrap().unwrap();
            rtnl.set_up(peer.index).unwrap();
            let network = NetworkConfig {
                interfaces: vec![Interface {
                    mtu: 1400,
                    addresses: vec![net("172.17.0.2/16"), net("fd00::2/64")],
                    ..interface("eth0", device.mac.unwrap())
                }],
                routes: vec![
                    route("0.0.0.0/0", Some("172.17.0.1"), "eth0"),
                    route("::/0", Some("fd00::1"), "eth0"),
                ],
                neighbours: vec![proto::net::Neighbour {
                    interface: "eth0".into(),
                    address: "172.17.0.1".parse().unwrap(),
                    mac: [2, 0, 0, 0, 0, 1],
                }],
            };
            configure(&network).unwrap();
            configure(&network).unwrap();

            let eth0 = rtnl.link("eth0").unwrap().unwrap();
            assert_eq!((eth0.index, eth0.mtu, eth0.up), (device.index, 1400, true));
            let addresses: Vec<_> = rtnl
                .addresses(eth0.index)
                .unwrap()
                .iter()
                .map(|address| format!("{}/{}", address.address, address.prefix_len))
                .collect();
            assert_eq!(addresses, ["172.17.0.2/16", "fd00::2/64"]);
            let gateways: Vec<_> = rtnl
                .routes()
                .unwrap()
                .iter()
                .map(|route| {
                    (
                        route.prefix_len,
                        route.gateway.unwrap().to_string(),
                        route.index,
                    )
                })
                .collect();
            assert_eq!(
                gateways,
                [
                    (0, "172.17.0.1".into(), Some(eth0.index)),
                    (0, "fd00::1".into(), Some(eth0.index))
                ]
            );
            assert_eq!(rtnl.neighbours().unwrap().len(), 1);

            let unknown = NetworkConfig {
                routes: vec![route("10.9.0.0/16", Some("192.168.0.1"), "eth0")],
                ..network.clone()
            };
            assert!(configure(&unknown)
                .unwrap_err()
                .to_string()
                .starts_with("route 10.9.0.0/16 via 192.168.0.1 dev eth0: adding route "));
            let no_interface = NetworkConfig {
                routes: vec![route("10.9.0.0/16", None, "eth7")],
                ..network
            };
            assert_eq!(
                configure(&no_interface).unwrap_err().to_string(),
                "route 10.9.0.0/16 dev eth7: no interface eth7"
            );
        });
    }
}
