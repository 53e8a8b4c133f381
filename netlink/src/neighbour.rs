//! Permanent neighbour (ARP and NDP) entries.

use std::net::IpAddr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_REPLACE};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::{Error, Rtnl};

/// A permanent entry: `address` is at `mac` on link `index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Neighbour {
    pub index: u32,
    pub address: IpAddr,
    pub mac: [u8; 6],
}

impl Neighbour {
    fn from_message(message: NeighbourMessage) -> Option<Self> {
        if message.header.state != NeighbourState::Permanent {
            return None;
        }
        let mut address = None;
        let mut mac = None;
        for attribute in message.attributes {
            match attribute {
                NeighbourAttribute::Destination(NeighbourAddress::Inet(v4)) => {
                    address = Some(v4.into())
                }
                NeighbourAttribute::Destination(NeighbourAddress::Inet6(v6)) => {
                    address = Some(v6.into())
                }
                NeighbourAttribute::LinkLayerAddress(bytes) => mac = bytes.try_into().ok(),
                _ => {}
            }
        }
        Some(Neighbour {
            index: message.header.ifindex,
            address: address?,
            mac: mac?,
        })
    }
}

impl Rtnl {
    /// The permanent entries with an Ethernet address; learnt ones are
    /// left to the kernel.
    pub fn neighbours(&mut self) -> Result<Vec<Neighbour>, Error> {
        self.dump(
            RouteNetlinkMessage::GetNeighbour(NeighbourMessage::default()),
            || "listing neighbours".into(),
            |answer| match answer {
                RouteNetlinkMessage::NewNeighbour(message) => Neighbour::from_message(message),
                _ => None,
            },
        )
    }

    /// Adds (or replaces) a permanent entry.
    pub fn add_neighbour(&mut self, neighbour: &Neighbour) -> Result<(), Error> {
        let mut message = NeighbourMessage::default();
        message.header.family = match neighbour.address {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        };
        message.header.ifindex = neighbour.index;
        message.header.state = NeighbourState::Permanent;
        message.attributes = vec![
            NeighbourAttribute::Destination(neighbour.address.into()),
            NeighbourAttribute::LinkLayerAddress(neighbour.mac.to_vec()),
        ];
        self.change(
            RouteNetlinkMessage::NewNeighbour(message),
            NLM_F_CREATE | NLM_F_REPLACE,
            || {
                format!(
                    "adding neighbour {} on link {}",
                    neighbour.address, neighbour.index
                )
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::in_new_network_namespace;

    #[test]
    fn permanent_neighbours_are_added_and_read_back() {
        in_new_network_namespace(|| {
            let mut rtnl = Rtnl::open().unwrap();
            rtnl.add_veth("ve0", "ve1").unwrap();
            let ve0 = rtnl.link("ve0").unwrap().unwrap().index;
            rtnl.set_up(ve0).unwrap();
            assert_eq!(rtnl.neighbours().unwrap(), []);

            let v4 = Neighbour {
                index: ve0,
                address: "10.0.0.1".parse().unwrap(),
                mac: [2, 0, 0, 0, 0, 1],
            };
            let v6 = Neighbour {
                address: "fd00::1".parse().unwrap(),
                ..v4
            };
            rtnl.add_neighbour(&v4).unwrap();
            rtnl.add_neighbour(&v6).unwrap();
            rtnl.add_neighbour(&v4).unwrap();
            assert_eq!(rtnl.neighbours().unwrap(), [v4, v6]);
        });
    }
}
