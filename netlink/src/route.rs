//! Routes of the main table, IPv4 and IPv6.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{NLM_F_CREATE, NLM_F_REPLACE};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
    RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::{Error, Rtnl};

/// A unicast route of the main table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The destination subnet; `0.0.0.0/0` or `::/0` for the default route.
    pub destination: IpAddr,
    pub prefix_len: u8,
    /// The next hop, if it is not straight onto the link.
    pub gateway: Option<IpAddr>,
    /// The index of the link it goes out of: none for a multipath route.
    pub index: Option<u32>,
    /// The preferred source address.
    pub source: Option<IpAddr>,
    /// The priority; IPv6 routes always have one (1024 when not given).
    pub metric: Option<u32>,
    /// The gateway is on the link even outside every address's subnet.
    pub onlink: bool,
}

impl Route {
    /// The route in `message`, unless it is one runvm leaves to the kernel:
    /// another table's, not unicast, made by the kernel for an address
    /// (`proto kernel`), or to a link-local or multicast destination.
    fn from_message(message: RouteMessage) -> Option<Self> {
        let header = &message.header;
        if header.kind != RouteType::Unicast || header.protocol == RouteProtocol::Kernel {
            return None;
        }
        let mut table = u32::from(header.table);
        let mut route = Route {
            destination: unspecified(header.address_family)?,
            prefix_len: header.destination_prefix_length,
            gateway: None,
            index: None,
            source: None,
            metric: None,
            onlink: header.flags.contains(RouteFlags::Onlink),
        };
        for attribute in message.attributes {
            match attribute {
                // Tables past 255 are only in the attribute.
                RouteAttribute::Table(id) => table = id,
                RouteAttribute::Destination(address) => route.destination = ip(address)?,
                RouteAttribute::Gateway(address) => route.gateway = Some(ip(address)?),
                RouteAttribute::Oif(index) => route.index = Some(index),
                RouteAttribute::PrefSource(address) => route.source = Some(ip(address)?),
                RouteAttribute::Priority(metric) => route.metric = Some(metric),
                _ => {}
            }
        }
        let link_local_or_multicast = match route.destination {
            IpAddr::V4(v4) => v4.is_multicast(),
            IpAddr::V6(v6) => v6.is_multicast() || v6.segments()[0] & 0xffc0 == 0xfe80,
        };
        (table == u32::from(RouteHeader::RT_TABLE_MAIN) && !link_local_or_multicast)
            .then_some(route)
    }
}

fn unspecified(family: AddressFamily) -> Option<IpAddr> {
    match family {
        AddressFamily::Inet => Some(Ipv4Addr::UNSPECIFIED.into()),
        AddressFamily::Inet6 => Some(Ipv6Addr::UNSPECIFIED.into()),
        _ => None,
    }
}

fn ip(address: RouteAddress) -> Option<IpAddr> {
    match address {
        RouteAddress::Inet(v4) => Some(v4.into()),
        RouteAddress::Inet6(v6) => Some(v6.into()),
        _ => None,
    }
}

impl Rtnl {
    /// The unicast routes of the main table that are not the kernel's own
    /// (see [`Route`]), IPv4 then IPv6.
    pub fn routes(&mut self) -> Result<Vec<Route>, Error> {
        self.dump(
            RouteNetlinkMessage::GetRoute(RouteMessage::default()),
            || "listing routes".into(),
            |answer| match answer {
                RouteNetlinkMessage::NewRoute(message) => Route::from_message(message),
                _ => None,
            },
        )
    }

    /// Adds `route` to the main table, or replaces the one with its
    /// destination and metric. Without a gateway an IPv4 route is scoped to
    /// the link, as `ip route add` does.
    pub fn add_route(&mut self, route: &Route) -> Result<(), Error> {
        let mut message = RouteMessage::default();
        let header = &mut message.header;
        header.address_family = match route.destination {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        };
        header.destination_prefix_length = route.prefix_len;
        header.table = RouteHeader::RT_TABLE_MAIN;
        header.protocol = RouteProtocol::Boot;
        header.kind = RouteType::Unicast;
        header.scope = match (route.destination, route.gateway) {
            (IpAddr::V4(_), None) => RouteScope::Link,
            _ => RouteScope::Universe,
        };
        if route.onlink {
            header.flags = RouteFlags::Onlink;
        }
        let attributes = &mut message.attributes;
        if route.prefix_len > 0 {
            attributes.push(RouteAttribute::Destination(route.destination.into()));
        }
        if let Some(gateway) = route.gateway {
            attributes.push(RouteAttribute::Gateway(gateway.into()));
        }
        if let Some(index) = route.index {
            attributes.push(RouteAttribute::Oif(index));
        }
        if let Some(source) = route.source {
            attributes.push(RouteAttribute::PrefSource(source.into()));
        }
        if let Some(metric) = route.metric {
            attributes.push(RouteAttribute::Priority(metric));
        }
        self.change(
            RouteNetlinkMessage::NewRoute(message),
            NLM_F_CREATE | NLM_F_REPLACE,
            || format!("adding route {}", describe(route)),
        )
    }
}

/// `10.0.0.0/8 via 10.0.0.1 dev 3`, about as `ip route` says it.
fn describe(route: &Route) -> String {
    let mut text = format!("{}/{}", route.destination, route.prefix_len);
    if let Some(gateway) = route.gateway {
        text += &format!(" via {gateway}");
    }
    if let Some(index) = route.index {
        text += &format!(" dev {index}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{in_new_network_namespace, veth_pair_up};
    use crate::Address;

    fn route(destination: &str, prefix_len: u8, gateway: Option<&str>, index: u32) -> Route {
        Route {
            destination: destination.parse().unwrap(),
            prefix_len,
            gateway: gateway.map(|gateway| gateway.parse().unwrap()),
            index: Some(index),
            source: None,
            metric: None,
            onlink: false,
        }
    }

    #[test]
    fn routes_are_added_and_read_back_without_the_kernels_own() {
        in_new_network_namespace(|| {
            let mut rtnl = Rtnl::open().unwrap();
            let (ve0, _) = veth_pair_up(&mut rtnl, "ve0", "ve1");
            for (address, prefix_len) in [("10.0.0.2", 24), ("fd00::2", 64)] {
                rtnl.add_address(&Address {
                    index: ve0,
                    address: address.parse().unwrap(),
                    prefix_len,
                })
                .unwrap();
            }
            // Only the kernel's routes so far (the subnets', fe80::/64).
            assert_eq!(rtnl.routes().unwrap(), []);

            let default = route("0.0.0.0", 0, Some("10.0.0.1"), ve0);
            let on_link_device = route("192.168.5.0", 24, None, ve0);
            let onlink_gateway = Route {
                onlink: true,
                metric: Some(50),
                source: Some("10.0.0.2".parse().unwrap()),
                ..route("10.99.0.0", 16, Some("172.16.0.1"), ve0)
            };
            let default_v6 = route("::", 0, Some("fd00::1"), ve0);
            for added in [&default, &on_link_device, &onlink_gateway, &default_v6] {
                rtnl.add_route(added).unwrap();
            }
            // Again: replaced, not refused.
            rtnl.add_route(&default).unwrap();

            let routes = rtnl.routes().unwrap();
            let default_v6 = Route {
                metric: Some(1024),
                ..default_v6
            };
            assert_eq!(
                routes,
                [default, onlink_gateway.clone(), on_link_device, default_v6]
            );

            let unreachable = Route {
                onlink: false,
                ..onlink_gateway
            };
            let error = rtnl.add_route(&unreachable).unwrap_err();
            assert_eq!(error.errno(), Some(nix::errno::Errno::ENETUNREACH));
            assert!(error.to_string().starts_with(&format!(
                "adding route 10.99.0.0/16 via 172.16.0.1 dev {ve0}: "
            )));
        });
    }
}
