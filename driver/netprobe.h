/*
 * The downtime users feel: a client in another network namespace pings the
 * guest every few milliseconds and keeps a TCP echo connection busy across
 * the migration, while the bridge the source's and destination's taps are
 * plugged into is watched for where it forwards the guest's MAC and how many
 * packets each tap is still sent.
 */
#pragma once

#include <glib.h>

typedef struct {
    const char *client_netns;  /* name in /run/netns: where the client lives */
    const char *guest_ip;      /* dotted quad, no prefix */
    const char *guest_mac;     /* aa:bb:cc:dd:ee:ff */
    const char *src_tap;       /* bridge ports, in the driver's own netns */
    const char *dst_tap;
    guint interval_ms;         /* between pings and between TCP messages */
    guint16 tcp_port;          /* the guest's echo service */
} NetProbeConfig;

typedef enum {
    NET_PORT_NONE,             /* the bridge has no entry for the MAC */
    NET_PORT_SRC,
    NET_PORT_DST,
    NET_PORT_OTHER,
} NetPort;

typedef struct {
    /* pings sent from the migration's start until 1 s before the end */
    guint64 pings_sent;
    guint64 pings_lost;
    /* longest time without a ping reply, migration start .. end */
    double longest_gap_ms;
    double gap_start_s;        /* relative to the migration's start */
    /* the gap users see at switchover: the longest one ending between just
     * before the bridge relearned the MAC and a second after; -1 if the
     * MAC never moved */
    double switchover_gap_ms;
    /* TCP echo connection */
    gboolean tcp_survived;
    char *tcp_error;           /* why it did not, or NULL */
    guint64 tcp_echoes;        /* echoes received, migration start .. end */
    double tcp_longest_gap_ms;
    /* bridge forwarding table */
    NetPort port_before;       /* at the migration's start */
    NetPort port_at_end;
    gboolean moved_to_dst;     /* the MAC was seen on the destination's tap */
    double moved_after_complete_ms; /* when, relative to the completion mark */
    gboolean have_tap_window;  /* tap counters for [complete+1 s, complete+2 s] */
    guint64 src_tap_packets;   /* sent by the bridge into each tap in that window */
    guint64 dst_tap_packets;
    gboolean completed;        /* a completion was marked */
    /* the switchover gap's ends and the MAC's move, CLOCK_REALTIME (the
     * QMP events' clock); 0 if unknown */
    gint64 gap_last_reply_real_us;
    gint64 gap_first_reply_real_us;
    gint64 mac_moved_real_us;
    /* the first frames the destination's QEMU sent from the guest's MAC:
     * its RARP announce, and anything else (the guest's own); 0 if none */
    gint64 first_announce_real_us;
    gint64 first_guest_frame_real_us;
    char first_guest_frame_kind[16];   /* what it was: "icmp", "tcp", "arp", ... */
} NetResult;

typedef struct NetProbe NetProbe;

/* Checks addresses, the client's namespace and that both taps are ports of
 * one bridge in the driver's namespace: before any QEMU is started. */
gboolean netprobe_check(const NetProbeConfig *cfg, GError **error);
/* Opens the probe sockets inside the client namespace, checks the taps
 * share one bridge, and waits up to @ready_timeout_s for the guest to
 * answer pings and accept the TCP connection. */
NetProbe *netprobe_start(const NetProbeConfig *cfg, double ready_timeout_s, GError **error);
void netprobe_mark_migration_start(NetProbe *p);
void netprobe_mark_complete(NetProbe *p);
/* Stops probing, frees @p and fills @out. */
void netprobe_finish(NetProbe *p, NetResult *out);
void netresult_clear(NetResult *r);
const char *netport_name(NetPort port);
