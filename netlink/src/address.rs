//! Addresses of links, IPv4 and IPv6.

use std::net::IpAddr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_REPLACE};
use netlink_packet_route::address::{AddressAttribute, AddressFlags, AddressMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::{Error, Rtnl};

/// An address of a link, with its prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Address {
    /// The link's index.
    pub index: u32,
    pub address: IpAddr,
    pub prefix_len: u8,
}

impl Address {
    fn from_message(message: AddressMessage) -> Option<Self> {
        // IFA_LOCAL is the link's own address; IFA_ADDRESS is the peer's on a
        // point-to-point link, and the only one IPv6 gives.
        let mut local = None;
        let mut address = None;
        for attribute in message.attributes {
            match attribute {
                AddressAttribute::Local(ip) => local = Some(ip),
                AddressAttribute::Address(ip) => address = Some(ip),
                _ => {}
            }
        }
        Some(Address {
            index: message.header.index,
            address: local.or(address)?,
            prefix_len: message.header.prefix_len,
        })
    }
}

/// fe80::/10: made by each kernel from the link's MAC.
fn is_ipv6_link_local(address: &IpAddr) -> bool {
    matches!(address, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80)
}

impl Rtnl {
    /// The addresses of link `index`, IPv4 and IPv6, but for IPv6
    /// link-local ones (fe80::/10), which every kernel makes for itself.
    pub fn addresses(&mut self, index: u32) -> Result<Vec<Address>, Error> {
        self.dump(
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            || "listing addresses".into(),
            |answer| match answer {
                RouteNetlinkMessage::NewAddress(message) => {
                    Address::from_message(message).filter(|address| {
                        address.index == index && !is_ipv6_link_local(&address.address)
                    })
                }
                _ => None,
            },
        )
    }

    /// Adds `address` to its link, or updates it if the link has it. IPv6
    /// addresses skip duplicate address detection: they come from the host,
    /// where the address was checked, and are usable at once.
    pub fn add_address(&mut self, address: &Address) -> Result<(), Error> {
        let mut message = AddressMessage::default();
        message.header.index = address.index;
        message.header.prefix_len = address.prefix_len;
        message
            .attributes
            .push(AddressAttribute::Address(address.address));
        match address.address {
            IpAddr::V4(_) => {
                message.header.family = AddressFamily::Inet;
                message
                    .attributes
                    .push(AddressAttribute::Local(address.address));
            }
            IpAddr::V6(_) => {
                message.header.family = AddressFamily::Inet6;
                message
                    .attributes
                    .push(AddressAttribute::Flags(AddressFlags::Nodad));
            }
        }
        self.change(
            RouteNetlinkMessage::NewAddress(message),
            NLM_F_CREATE | NLM_F_REPLACE,
            || {
                format!(
                    "adding address {}/{} to link {}",
                    address.address, address.prefix_len, address.index
                )
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{in_new_network_namespace, veth_pair_up};

    #[test]
    fn addresses_of_both_families_are_added_and_read_back() {
        in_new_network_namespace(|| {
            let mut rtnl = Rtnl::open().unwrap();
            let (ve0, ve1) = veth_pair_up(&mut rtnl, "ve0", "ve1");
            let v4 = Address {
                index: ve0,
                address: "10.0.0.2".parse().unwrap(),
                prefix_len: 24,
            };
            let v6 = Address {
                index: ve0,
                address: "fd00::2".parse().unwrap(),
                prefix_len: 64,
            };
            rtnl.add_address(&v4).unwrap();
            rtnl.add_address(&v6).unwrap();
            // Again: a retried configuration does not fail on what is there.
            rtnl.add_address(&v4).unwrap();

            let addresses = rtnl.addresses(ve0).unwrap();
            assert_eq!(addresses, [v4, v6]);
            assert_eq!(rtnl.addresses(ve1).unwrap(), []);

            let error = rtnl
                .add_address(&Address {
                    index: 999_999,
                    ..v4
                })
                .unwrap_err();
            assert_eq!(error.errno(), Some(nix::errno::Errno::ENODEV));
            assert!(error
                .to_string()
                .starts_with("adding address 10.0.0.2/24 to link 999999: "));
        });
    }

    #[test]
    fn only_fe80_is_link_local() {
        assert!(is_ipv6_link_local(&"fe80::1".parse().unwrap()));
        assert!(is_ipv6_link_local(&"febf::1".parse().unwrap()));
        assert!(!is_ipv6_link_local(&"fec0::1".parse().unwrap()));
        assert!(!is_ipv6_link_local(&"10.0.0.1".parse().unwrap()));
    }
}
