/*
 * netprobe's parts (netprobe.c: the probe thread and its life; netecho.c:
 * the ICMP and TCP echoes; netresult.c: what users would have seen) and
 * the state they share.
 */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <linux/if_bridge.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "util.h"
#include "netprobe.h"


#define TCP_MSG_LEN        8
#define CONNECT_TIMEOUT_MS 5000
#define DRAIN_AFTER_STOP_MS 300
/* Pings sent this close to the end may still be in flight: not counted. */
#define LOSS_GRACE_US      (1 * G_USEC_PER_SEC)

/* Where the switchover gap may end, around the bridge's relearning: the
 * destination's first reply cannot precede the move, which is sampled every
 * interval (10 ms), so a little before it.  No earlier: a gap the source's
 * guest had before it stopped (its dirty-bitmap sync holding the big lock)
 * is not the switchover's. */
#define SWITCHOVER_BEFORE_US (30 * 1000)
#define SWITCHOVER_AFTER_US  (1000 * 1000)

enum { TCP_NOT_TRIED, TCP_CONNECTED, TCP_FAILED };

typedef struct {
    gint64 sent_us;
    gint64 reply_us;           /* 0 = no reply */
} PingRec;

typedef struct {
    gint64 t_us;
    NetPort port;
    guint64 src_tx;
    guint64 dst_tx;
} BridgeSample;

struct NetProbe {
    NetProbeConfig cfg;
    char *client_netns;
    char *guest_ip;
    guint8 mac[6];
    char *src_tap;
    char *dst_tap;
    char *brforward_path;
    char *src_tx_path;
    char *dst_tx_path;
    unsigned src_port_no;
    unsigned dst_port_no;
    struct sockaddr_in guest;

    GThread *thread;
    GMutex lock;
    GCond cond;
    /* set under lock */
    gboolean started;          /* the thread finished opening its sockets */
    char *start_error;
    gboolean stop;
    gboolean answered;         /* a ping reply came back */
    int tcp_state;             /* TCP_NOT_TRIED, TCP_CONNECTED, TCP_FAILED */
    gint64 mig_start_us;
    gint64 complete_us;
    gint64 stop_us;

    /* owned by the thread until it is joined */
    int icmp_fd;
    int tcp_fd;
    /* frames the destination's QEMU sends into its tap (the driver's netns) */
    int tap_fd;
    gint64 first_announce_real_us;   /* QEMU's RARP self-announce */
    gint64 first_guest_frame_real_us; /* anything else from the guest's MAC */
    char first_guest_frame_kind[16];  /* "icmp", "tcp", "arp", ... */
    guint16 echo_ident;
    GArray *pings;             /* PingRec, index = sequence number */
    GArray *echoes;            /* gint64 arrival of each whole TCP echo */
    GArray *bridge;            /* BridgeSample */
    guint64 tcp_sent;
    gsize tcp_partial;         /* bytes of the next echo already read */
    char *tcp_error;
    gint64 tcp_error_us;
};

/* netecho.c, on the probe thread */
void send_ping(NetProbe *p, gint64 now);
void receive_pings(NetProbe *p, gint64 now);
void tcp_fail(NetProbe *p, gint64 now, const char *what, int err);
void send_tcp(NetProbe *p, gint64 now);
void receive_tcp(NetProbe *p, gint64 now);
int open_tcp(NetProbe *p, GString *why);

/* netprobe.c */
void netprobe_stop_thread(NetProbe *p);
void netprobe_free(NetProbe *p);
