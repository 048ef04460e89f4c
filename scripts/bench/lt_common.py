"""Settings shared by the benchmark's libtorrent seeder and leecher.

Loopback only: no DHT, LSD, UPnP or NAT-PMP, TCP only (no uTP), listening on
127.0.0.1 with an ephemeral port, alerts limited to errors and status.
"""
import libtorrent as lt


def loopback(settings):
    """Pin a settings pack (a dict) to loopback, with no discovery at all."""
    settings.update({
        "listen_interfaces": "127.0.0.1:0",
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_utp": False,
        "alert_mask": int(lt.alert.category_t.error_notification
                          | lt.alert.category_t.status_notification),
    })
    return settings
