//! The container's network, from inside its network namespace on the host
//! (where the monitor lives once the caller's hooks have run).
//!
//! Docker's prestart hook, netavark and CNI leave a veth there with
//! addresses and routes. The VM cannot use it directly, so (as Kata's
//! tcfilter model does) each such link is joined to a tap of the VM: every
//! packet arriving at one leaves by the other, both ways, through tc
//! ingress redirects. The guest's virtio-net device has the veth's MAC,
//! and the guest agent gives it the veth's name, MTU, addresses, routes and
//! neighbours, which [`describe`] reads.
//!
//! The monitor:
//! 1. [`describe`]s the namespace;
//! 2. for each interface, makes a tap named [`tap_name`]`(n)` and
//!    [`redirect`]s between it and the veth;
//! 3. sends the description to the agent (`ConfigureNetwork`);
//! 4. at teardown, [`unwire`]s each pair (the tap itself goes with its fd).
//!
//! All of this takes an [`Rtnl`] opened in the container's namespace, so
//! that teardown can use the one opened at set-up.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use proto::net::{Interface, IpNet, Mac, Neighbour, NetworkConfig, Route};
use rtnl::{Link, Rtnl};
use serde::{Deserialize, Serialize};
use virtio::net::Tap;
use vmm::NetDevice;

/// What the monitor could not do with the container's network.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("reading the container's network")]
    Read(#[source] rtnl::Error),
    #[error("route {route}: multipath routes are not supported")]
    Multipath { route: String },
    #[error("route {route}: goes through link {index}, which is not the container's interface")]
    RouteLink { route: String, index: u32 },
    #[error("neighbour {address}: on link {index}, which is not the container's interface")]
    NeighbourLink { address: String, index: u32 },
    #[error("joining link {veth} to tap {tap}")]
    Redirect {
        veth: u32,
        tap: u32,
        #[source]
        source: rtnl::Error,
    },
    #[error("creating the tap")]
    Tap(#[source] virtio::net::TapError),
    #[error("reading the index of tap {0}")]
    TapIndex(String, #[source] std::io::Error),
    #[error("interface {interface}: an MTU of {mtu} is more than a VM's network card takes")]
    Mtu { interface: String, mtu: u32 },
    #[error("opening a netlink socket")]
    Open(#[source] rtnl::Error),
    #[error("recording the network in the container directory")]
    Record(#[source] std::io::Error),
    #[error("parting link {veth} from tap {tap}")]
    Unwire {
        veth: u32,
        tap: u32,
        #[source]
        source: rtnl::Error,
    },
}

/// The container's network as found in its namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostNetwork {
    /// What the guest agent is sent.
    pub config: NetworkConfig,
    /// The host link index of each of `config.interfaces`, in order: the
    /// veth each tap is joined to.
    pub links: Vec<u32>,
}

impl HostNetwork {
    /// Each interface with its host link index.
    pub fn interfaces(&self) -> impl Iterator<Item = (u32, &Interface)> {
        self.links.iter().copied().zip(&self.config.interfaces)
    }
}

/// The name of the VM's `n`th tap, which [`describe`] leaves out.
pub fn tap_name(n: usize) -> String {
    format!("tap{n}{TAP_SUFFIX}")
}

const TAP_SUFFIX: &str = "_runvm";

/// Reads the namespace: every Ethernet link but runvm's own taps (so not
/// `lo`, nor the IP tunnels some kernels put in every namespace) with its
/// MAC, MTU and addresses; the main table's routes and the permanent
/// neighbours, minus what the guest's kernel makes by itself (see
/// [`proto::net`]).
pub fn describe(rtnl: &mut Rtnl) -> Result<HostNetwork, NetworkError> {
    let links: Vec<(Link, Mac)> = rtnl
        .links()
        .map_err(NetworkError::Read)?
        .into_iter()
        .filter(|link| !link.name.ends_with(TAP_SUFFIX))
        .filter_map(|link| link.mac.map(|mac| (link, mac)))
        .collect();
    let mut interfaces = Vec::with_capacity(links.len());
    for (link, mac) in &links {
        let addresses = rtnl
            .addresses(link.index)
            .map_err(NetworkError::Read)?
            .into_iter()
            .map(|address| IpNet {
                address: address.address,
                prefix_len: address.prefix_len,
            })
            .collect();
        interfaces.push(Interface {
            name: link.name.clone(),
            mac: *mac,
            mtu: link.mtu,
            addresses,
        });
    }
    let names: HashMap<u32, &str> = links
        .iter()
        .map(|(link, _)| (link.index, link.name.as_str()))
        .collect();
    let routes = rtnl
        .routes()
        .map_err(NetworkError::Read)?
        .iter()
        .map(|route| guest_route(route, &names))
        .collect::<Result<_, _>>()?;
    let neighbours = rtnl
        .neighbours()
        .map_err(NetworkError::Read)?
        .iter()
        .map(|neighbour| guest_neighbour(neighbour, &names))
        .collect::<Result<_, _>>()?;
    Ok(HostNetwork {
        links: links.iter().map(|(link, _)| link.index).collect(),
        config: NetworkConfig {
            interfaces,
            routes,
            neighbours,
        },
    })
}

/// `route` with its link named, as the guest's link will be.
fn guest_route(route: &rtnl::Route, names: &HashMap<u32, &str>) -> Result<Route, NetworkError> {
    let text = || match route.gateway {
        Some(gateway) => format!("{}/{} via {gateway}", route.destination, route.prefix_len),
        None => format!("{}/{}", route.destination, route.prefix_len),
    };
    let index = route
        .index
        .ok_or_else(|| NetworkError::Multipath { route: text() })?;
    let name = names.get(&index).ok_or_else(|| NetworkError::RouteLink {
        route: text(),
        index,
    })?;
    Ok(Route {
        destination: IpNet {
            address: route.destination,
            prefix_len: route.prefix_len,
        },
        gateway: route.gateway,
        interface: name.to_string(),
        source: route.source,
        metric: route.metric,
        onlink: route.onlink,
    })
}

fn guest_neighbour(
    neighbour: &rtnl::Neighbour,
    names: &HashMap<u32, &str>,
) -> Result<Neighbour, NetworkError> {
    let name = names
        .get(&neighbour.index)
        .ok_or_else(|| NetworkError::NeighbourLink {
            address: neighbour.address.to_string(),
            index: neighbour.index,
        })?;
    Ok(Neighbour {
        interface: name.to_string(),
        address: neighbour.address,
        mac: neighbour.mac,
    })
}

/// Joins link `veth` to link `tap`: the tap gets `mtu` (the veth's) and
/// goes up, and each gets an ingress qdisc whose filter redirects every
/// packet out of the other. After an error, [`unwire`] removes what was
/// added.
pub fn redirect(rtnl: &mut Rtnl, veth: u32, tap: u32, mtu: u32) -> Result<(), NetworkError> {
    let joined = rtnl
        .set_mtu(tap, mtu)
        .and_then(|()| rtnl.set_up(tap))
        .and_then(|()| rtnl.add_ingress_qdisc(veth))
        .and_then(|()| rtnl.redirect_ingress(veth, tap))
        .and_then(|()| rtnl.add_ingress_qdisc(tap))
        .and_then(|()| rtnl.redirect_ingress(tap, veth));
    joined.map_err(|source| NetworkError::Redirect { veth, tap, source })
}

/// Removes the ingress qdiscs (and so the redirects) of `veth` and `tap`;
/// one already gone, or a link already gone (the tap, once its fd is
/// closed), is no error.
pub fn unwire(rtnl: &mut Rtnl, veth: u32, tap: u32) -> Result<(), NetworkError> {
    for link in [veth, tap] {
        part(rtnl, link).map_err(|source| NetworkError::Unwire { veth, tap, source })?;
    }
    Ok(())
}

/// Removes `link`'s ingress qdisc, if the link and the qdisc are there.
fn part(rtnl: &mut Rtnl, link: u32) -> Result<(), rtnl::Error> {
    match rtnl.delete_ingress_qdisc(link) {
        Err(error)
            if !matches!(
                error.errno(),
                Some(Errno::ENOENT | Errno::EINVAL | Errno::ENODEV)
            ) =>
        {
            Err(error)
        }
        _ => Ok(()),
    }
}

/// The container's network joined to the VM.
#[derive(Debug)]
pub struct Wiring {
    /// The VM's network cards, one per interface, in order.
    pub devices: Vec<NetDevice>,
    /// What the guest agent is sent.
    pub config: NetworkConfig,
    /// Each (veth, tap) pair of link indexes, to part at teardown.
    pub pairs: Vec<(u32, u32)>,
}

impl Wiring {
    /// Parts every pair joined so far (best effort: on an error path).
    pub fn unwire(&self, rtnl: &mut Rtnl) {
        for (veth, tap) in &self.pairs {
            let _ = unwire(rtnl, *veth, *tap);
        }
    }
}

/// Joins every interface of the namespace to a tap of its own, made here
/// (and gone with the monitor's fds). On error nothing is left joined.
pub fn wire(rtnl: &mut Rtnl) -> Result<Wiring, NetworkError> {
    let host = describe(rtnl)?;
    let mut wiring = Wiring {
        devices: Vec::with_capacity(host.links.len()),
        config: host.config.clone(),
        pairs: Vec::with_capacity(host.links.len()),
    };
    for (n, (veth, interface)) in host.interfaces().enumerate() {
        let joined = join(rtnl, n, veth, interface);
        match joined {
            Ok((device, tap)) => {
                wiring.devices.push(device);
                wiring.pairs.push((veth, tap));
            }
            Err(e) => {
                wiring.unwire(rtnl);
                return Err(e);
            }
        }
    }
    Ok(wiring)
}

/// Makes the `n`th tap and joins it to `veth`: the VM's card for
/// `interface`, and the tap's link index.
fn join(
    rtnl: &mut Rtnl,
    n: usize,
    veth: u32,
    interface: &Interface,
) -> Result<(NetDevice, u32), NetworkError> {
    let name = tap_name(n);
    let tap = Tap::open(&name).map_err(NetworkError::Tap)?;
    let index = tap
        .ifindex()
        .map_err(|e| NetworkError::TapIndex(name.clone(), e))?;
    // A container started again in the same namespace (a pod's restart)
    // finds the redirect of the one before.
    unwire(rtnl, veth, index)?;
    if let Err(e) = redirect(rtnl, veth, index, interface.mtu) {
        let _ = unwire(rtnl, veth, index);
        return Err(e);
    }
    let mtu = u16::try_from(interface.mtu).map_err(|_| NetworkError::Mtu {
        interface: interface.name.clone(),
        mtu: interface.mtu,
    })?;
    let device = NetDevice {
        tap,
        mac: interface.mac,
        mtu,
    };
    Ok((device, index))
}

/// The record `delete` reads to part a namespace it can reach by path
/// (the taps go with the monitor; the redirects on the veths stay).
const RECORD: &str = "network.json";

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    namespace: PathBuf,
    veths: Vec<u32>,
}

/// Records in the container directory `dir` which links of the namespace
/// at `namespace` were joined, for [`remove_recorded`].
pub fn record(dir: &Path, namespace: &Path, wiring: &Wiring) -> std::io::Result<()> {
    let record = Record {
        namespace: namespace.to_path_buf(),
        veths: wiring.pairs.iter().map(|(veth, _)| *veth).collect(),
    };
    let json = serde_json::to_vec(&record).map_err(std::io::Error::other)?;
    std::fs::write(dir.join(RECORD), json)
}

/// Removes the redirects recorded in `dir`, if any: once the monitor is
/// gone (delete, or a failed create). A namespace or link already gone is
/// nothing to remove. Works from a thread of its own, which alone enters
/// the namespace.
pub fn remove_recorded(dir: &Path) {
    let Ok(json) = std::fs::read(dir.join(RECORD)) else {
        return;
    };
    let record: Record = match serde_json::from_slice(&json) {
        Ok(record) => record,
        Err(e) => {
            tracing::warn!("{} is corrupt: {e}", dir.join(RECORD).display());
            return;
        }
    };
    // A namespace already gone is nothing to part.
    let Ok(namespace) = std::fs::File::open(&record.namespace) else {
        return;
    };
    let parted = super::netns::run_in(
        std::slice::from_ref(&namespace),
        || -> Result<(), rtnl::Error> {
            let mut rtnl = Rtnl::open()?;
            // The taps went with the monitor: only the veths' side is left.
            record
                .veths
                .iter()
                .try_for_each(|veth| part(&mut rtnl, *veth))
        },
    );
    match parted {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("parting the container's network: {e}"),
        Err(e) => tracing::warn!("parting the container's network: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use rtnl::testing::in_new_network_namespace;
    use rtnl::Address;

    use super::*;

    fn net(address: &str, prefix_len: u8) -> IpNet {
        IpNet {
            address: address.parse().unwrap(),
            prefix_len,
        }
    }

    /// `eth0` plays the container's veth (its peer, here in the same
    /// namespace, is described too); a second pair, named as runvm names
    /// its taps, plays the VM's tap (no dummy links in the test kernel).
    #[test]
    fn the_namespace_is_described_and_wired_to_a_tap_and_back() {
        in_new_network_namespace(|| {
            let mut rtnl = Rtnl::open().unwrap();
            rtnl.add_veth("eth0", "peer0").unwrap();
            rtnl.add_veth(&tap_name(0), &tap_name(1)).unwrap();
            let eth0 = rtnl.link("eth0").unwrap().unwrap();
            let peer0 = rtnl.link("peer0").unwrap().unwrap();
            let tap = rtnl.link(&tap_name(0)).unwrap().unwrap();
            rtnl.set_mtu(eth0.index, 1450).unwrap();
            for link in [&eth0, &peer0] {
                rtnl.set_up(link.index).unwrap();
            }
            for (address, prefix_len) in [("172.17.0.2", 16), ("fd00::2", 64)] {
                rtnl.add_address(&Address {
                    index: eth0.index,
                    address: address.parse().unwrap(),
                    prefix_len,
                })
                .unwrap();
            }
            let default = rtnl::Route {
                destination: "0.0.0.0".parse().unwrap(),
                prefix_len: 0,
                gateway: Some("172.17.0.1".parse().unwrap()),
                index: Some(eth0.index),
                source: None,
                metric: None,
                onlink: false,
            };
            rtnl.add_route(&default).unwrap();
            rtnl.add_neighbour(&rtnl::Neighbour {
                index: eth0.index,
                address: "172.17.0.1".parse().unwrap(),
                mac: [2, 0, 0, 0, 0, 1],
            })
            .unwrap();

            let network = describe(&mut rtnl).unwrap();
            assert_eq!(network.links, [peer0.index, eth0.index]);
            let described: Vec<_> = network
                .interfaces()
                .map(|(_, interface)| interface)
                .collect();
            assert_eq!(
                described,
                [
                    &Interface {
                        name: "peer0".into(),
                        mac: peer0.mac.unwrap(),
                        mtu: 1500,
                        addresses: vec![],
                    },
                    &Interface {
                        name: "eth0".into(),
                        mac: eth0.mac.unwrap(),
                        mtu: 1450,
                        addresses: vec![net("172.17.0.2", 16), net("fd00::2", 64)],
                    },
                ]
            );
            assert_eq!(
                network.config.routes,
                [Route {
                    destination: net("0.0.0.0", 0),
                    gateway: Some("172.17.0.1".parse().unwrap()),
                    interface: "eth0".into(),
                    source: None,
                    metric: None,
                    onlink: false,
                }]
            );
            assert_eq!(
                network.config.neighbours,
                [Neighbour {
                    interface: "eth0".into(),
                    address: "172.17.0.1".parse().unwrap(),
                    mac: [2, 0, 0, 0, 0, 1],
                }]
            );

            assert!(!tap.up);
            let before = rtnl.qdiscs(eth0.index).unwrap();
            redirect(&mut rtnl, eth0.index, tap.index, 1450).unwrap();
            let wired = rtnl.link(&tap_name(0)).unwrap().unwrap();
            assert_eq!((wired.mtu, wired.up), (1450, true));
            assert_eq!(rtnl.ingress_redirects(eth0.index).unwrap(), [tap.index]);
            assert_eq!(rtnl.ingress_redirects(tap.index).unwrap(), [eth0.index]);
            // The description is the same with the tap wired.
            assert_eq!(describe(&mut rtnl).unwrap(), network);

            unwire(&mut rtnl, eth0.index, tap.index).unwrap();
            assert_eq!(rtnl.qdiscs(eth0.index).unwrap(), before);
            assert_eq!(rtnl.qdiscs(tap.index).unwrap(), ["noqueue"]);
            assert!(rtnl.ingress_redirects(eth0.index).unwrap().is_empty());
            assert!(rtnl.ingress_redirects(tap.index).unwrap().is_empty());
            // Again, and with the tap gone: nothing left to do is no error.
            unwire(&mut rtnl, eth0.index, tap.index).unwrap();
            unwire(&mut rtnl, eth0.index, 999_999).unwrap();
        });
    }

    #[test]
    fn a_route_through_a_link_the_guest_does_not_get_is_refused() {
        let route = rtnl::Route {
            destination: "10.1.0.0".parse().unwrap(),
            prefix_len: 16,
            gateway: Some("10.0.0.1".parse().unwrap()),
            index: Some(7),
            source: None,
            metric: None,
            onlink: false,
        };
        let names = HashMap::from([(2, "eth0")]);
        assert_eq!(
            guest_route(&route, &names).unwrap_err().to_string(),
            "route 10.1.0.0/16 via 10.0.0.1: goes through link 7, which is not the container's interface"
        );
        let multipath = rtnl::Route {
            index: None,
            ..route
        };
        assert_eq!(
            guest_route(&multipath, &names).unwrap_err().to_string(),
            "route 10.1.0.0/16 via 10.0.0.1: multipath routes are not supported"
        );
    }
}
