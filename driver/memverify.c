#include "memverify.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef HAVE_XXHASH
#include <xxhash.h>
#endif

#include "util.h"

#define STREAM_BUF_SIZE   (4u << 20)
#define FIFO_PIPE_SIZE    (1u << 20)
#define DUMP_TIMEOUT_MS   (30 * 60 * 1000)

/* ---- page hash ---------------------------------------------------------- */

#ifdef HAVE_XXHASH
static inline guint64 page_hash(const guint8 *p, gsize n)
{
    return XXH3_64bits(p, n);
}
#else
/* Fallback: four independent xxh64-style lanes, so the multiplies
 * pipeline; plenty for detecting changed pages (not cryptographic). */
#define PH_P1 0x9E3779B185EBCA87ULL
#define PH_P2 0xC2B2AE3D27D4EB4FULL

static inline guint64 ph_round(guint64 acc, guint64 w)
{
    acc += w * PH_P2;
    acc = (acc << 31) | (acc >> 33);
    return acc * PH_P1;
}

static guint64 page_hash(const guint8 *p, gsize n)
{
    guint64 h[4] = { PH_P1 + PH_P2, PH_P2, 0, (guint64)0 - PH_P1 };
    guint64 acc;
    gsize i = 0;

    for (; i + 32 <= n; i += 32) {
        for (int l = 0; l < 4; l++) {
            guint64 w;

            memcpy(&w, p + i + 8 * l, 8);
            h[l] = ph_round(h[l], w);
        }
    }
    acc = ((h[0] << 1) | (h[0] >> 63)) ^ ((h[1] << 7) | (h[1] >> 57)) ^
          ((h[2] << 12) | (h[2] >> 52)) ^ ((h[3] << 18) | (h[3] >> 46));
    for (; i < n; i++) {
        acc = (acc ^ p[i]) * PH_P1;
    }
    acc ^= n;
    acc ^= acc >> 33;
    acc *= PH_P2;
    acc ^= acc >> 29;
    return acc;
}
#endif

/* ---- buffered FIFO reader ---------------------------------------------- */

typedef struct {
    int fd;
    guint8 *buf;
    gsize head, tail;    /* valid bytes are buf[head, tail) */
    guint64 pos;         /* stream offset of buf[head] */
    gboolean eof;
    gint cancel;         /* atomic: set by the QMP side on failure */
} Stream;

static gsize stream_avail(Stream *s)
{
    return s->tail - s->head;
}

static void stream_consume(Stream *s, gsize n)
{
    s->head += n;
    s->pos += n;
}

/* Appends whatever the pipe has; sets eof once the writer closed it. The
 * FIFO is non-blocking and polled so a dump that never starts (QMP error)
 * cannot hang us: the caller then raises @cancel. */
static gboolean stream_read_more(Stream *s, GError **error)
{
    if (s->tail == STREAM_BUF_SIZE) {
        memmove(s->buf, s->buf + s->head, stream_avail(s));
        s->tail -= s->head;
        s->head = 0;
    }
    for (;;) {
        struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
        ssize_t n;
        int r;

        if (g_atomic_int_get(&s->cancel) || drv_interrupted()) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_INTERRUPTED, "memory dump cancelled");
            return FALSE;
        }
        r = poll(&pfd, 1, 100);
        if (r < 0 && errno != EINTR) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_FAILED, "poll on dump FIFO: %s",
                        g_strerror(errno));
            return FALSE;
        }
        if (r <= 0) {
            continue;
        }
        n = read(s->fd, s->buf + s->tail, STREAM_BUF_SIZE - s->tail);
        if (n > 0) {
            s->tail += n;
            return TRUE;
        }
        if (n == 0) {
            /* poll() only reports HUP after a writer came and went, so
             * this is the end of the dump, not "no writer yet". */
            s->eof = TRUE;
            return TRUE;
        }
        if (errno != EAGAIN && errno != EINTR) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_FAILED, "read from dump FIFO: %s",
                        g_strerror(errno));
            return FALSE;
        }
    }
}

/* Makes @n contiguous bytes available at buf + head. */
static gboolean stream_need(Stream *s, gsize n, GError **error)
{
    g_assert(n <= STREAM_BUF_SIZE);
    while (stream_avail(s) < n) {
        if (s->eof) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_FAILED,
                        "dump stream truncated at offset %" G_GUINT64_FORMAT, s->pos);
            return FALSE;
        }
        if (STREAM_BUF_SIZE - s->head < n) {
            memmove(s->buf, s->buf + s->head, stream_avail(s));
            s->tail -= s->head;
            s->head = 0;
        }
        if (!stream_read_more(s, error)) {
            return FALSE;
        }
    }
    return TRUE;
}

static gboolean stream_skip_to(Stream *s, guint64 offset, GError **error)
{
    if (offset < s->pos) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_FAILED,
                    "dump stream: offset %" G_GUINT64_FORMAT " is behind %" G_GUINT64_FORMAT
                    " (unsupported ELF layout)", offset, s->pos);
        return FALSE;
    }
    while (s->pos < offset) {
        gsize k;

        if (stream_avail(s) == 0) {
            s->head = s->tail = 0;
            if (s->eof) {
                return stream_need(s, 1, error);  /* reports truncation */
            }
            if (!stream_read_more(s, error)) {
                return FALSE;
            }
        }
        k = MIN(stream_avail(s), offset - s->pos);
        stream_consume(s, k);
    }
    return TRUE;
}

/* Keeps reading until EOF so that QEMU never blocks on a full pipe. */
static void stream_drain(Stream *s)
{
    while (!s->eof) {
        s->head = s->tail = 0;
        if (!stream_read_more(s, NULL)) {
            return;
        }
    }
}

/* ---- ELF parsing -------------------------------------------------------- */

typedef struct {
    guint64 offset, paddr, filesz;
} LoadSeg;

typedef struct {
    gboolean is64;
    guint64 phoff, shoff;
    guint32 phentsize, phnum, shentsize;
} ElfInfo;

static gint load_seg_cmp(gconstpointer a, gconstpointer b)
{
    const LoadSeg *x = a, *y = b;

    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static gboolean parse_ehdr(Stream *s, ElfInfo *info, GError **error)
{
    const guint8 *id;

    if (!stream_need(s, sizeof(Elf32_Ehdr), error)) {
        return FALSE;
    }
    id = s->buf + s->head;
    if (memcmp(id, ELFMAG, SELFMAG) != 0) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_FAILED, "dump is not an ELF file");
        return FALSE;
    }
    if (id[EI_DATA] != ELFDATA2LSB) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_FAILED, "big-endian ELF dump not supported");
        return FALSE;
    }
    /* QEMU writes ELF32 while the x86 guest is not in long mode and all
     * RAM is below 4 GiB (e.g. the boot block), ELF64 otherwise. */
    info->is64 = id[EI_CLASS] == ELFCLASS64;
    if (info->is64) {
        Elf64_Ehdr eh;

        if (!stream_need(s, sizeof(eh), error)) {
            return FALSE;
        }
        memcpy(&eh, s->buf + s->head, sizeof(eh));
        info->phoff = GUINT64_FROM_LE(eh.e_phoff);
        info->shoff = GUINT64_FROM_LE(eh.e_shoff);
        info->phentsize = GUINT16_FROM_LE(eh.e_phentsize);
        info->phnum = GUINT16_FROM_LE(eh.e_phnum);
        info->shentsize = GUINT16_FROM_LE(eh.e_shentsize);
        stream_consume(s, sizeof(eh));
    } else if (id[EI_CLASS] == ELFCLASS32) {
        Elf32_Ehdr eh;

        if (!stream_need(s, sizeof(eh), error)) {
            return FALSE;
        }
        memcpy(&eh, s->buf + s->head, sizeof(eh));
        info->phoff = GUINT32_FROM_LE(eh.e_phoff);
        info->shoff = GUINT32_FROM_LE(eh.e_shoff);
        info->phentsize = GUINT16_FROM_LE(eh.e_phentsize);
        info->phnum = GUINT16_FROM_LE(eh.e_phnum);
        info->shentsize = GUINT16_FROM_LE(eh.e_shentsize);
        stream_consume(s, sizeof(eh));
    } else {
        g_set_error(error, DRV_ERROR, DRV_ERROR_FAILED, "unknown ELF class %d", id[EI_CLASS]);
        return FALSE;
    }
    if (info->phentsize < (info->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr))) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_FAILED, "bad e_phentsize %u", info->phentsize);
        return FALSE;
    }
    return TRUE;
}

/* With >= 0xffff program headers the real count is in section 0's sh_info
 * (QEMU puts the section headers before the program headers). */
static gboolean resolve_phnum(Stream *s, ElfInfo *info, GError **error)
{
    guint32 sh_info;

    if (info->phnum != PN_XNUM) {
        return TRUE;
    }
    if (!info->shoff || info->shoff > info->phoff ||
        !stream_skip_to(s, info->shoff, error) ||
        !stream_need(s, info->is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr), error)) {
        if (error && !*error) {
            g_set_error(error, DRV_ERROR, DRV_ERROR_FAILED, "PN_XNUM dump layout not supported");
        }
        return FALSE;
    }
    if (info->is64) {
        Elf64_Shdr sh;

        memcpy(&sh, s->buf + s->head, sizeof(sh));
        sh_info = GUINT32_FROM_LE(sh.sh_info);
    } else {
        Elf32_Shdr sh;

        memcpy(&sh, s->buf + s->head, sizeof(sh));
        sh_info = GUINT32_FROM_LE(sh.sh_info);
    }
    info->phnum = sh_info;
    return TRUE;
}

static gboolean read_loads(Stream *s, const ElfInfo *info, GArray *loads,
                           GError **error)
{
    if (!stream_skip_to(s, info->phoff, error)) {
        return FALSE;
    }
    for (guint32 i = 0; i < info->phnum; i++) {
        LoadSeg seg;
        guint32 type;

        if (!stream_need(s, info->phentsize, error)) {
            return FALSE;
        }
        if (info->is64) {
            Elf64_Phdr ph;

            memcpy(&ph, s->buf + s->head, sizeof(ph));
            type = GUINT32_FROM_LE(ph.p_type);
            seg.offset = GUINT64_FROM_LE(ph.p_offset);
            seg.paddr = GUINT64_FROM_LE(ph.p_paddr);
            seg.filesz = GUINT64_FROM_LE(ph.p_filesz);
        } else {
            Elf32_Phdr ph;

            memcpy(&ph, s->buf + s->head, sizeof(ph));
            type = GUINT32_FROM_LE(ph.p_type);
            seg.offset = GUINT32_FROM_LE(ph.p_offset);
            seg.paddr = GUINT32_FROM_LE(ph.p_paddr);
            seg.filesz = GUINT32_FROM_LE(ph.p_filesz);
        }
        stream_consume(s, info->phentsize);
        if (type == PT_LOAD && seg.filesz > 0) {
            g_array_append_val(loads, seg);
        }
    }
    g_array_sort(loads, load_seg_cmp);
    return TRUE;
}

static gboolean hash_segment(Stream *s, const LoadSeg *seg, MemDigest *d,
                             GError **error)
{
    MemSegment ms = { seg->paddr, seg->filesz, d->hashes->len };

    if (!stream_skip_to(s, seg->offset, error)) {
        return FALSE;
    }
    g_array_append_val(d->segments, ms);
    for (guint64 done = 0; done < seg->filesz;) {
        gsize n = MIN(MEM_PAGE_SIZE, seg->filesz - done);
        guint64 h;

        if (!stream_need(s, n, error)) {
            return FALSE;
        }
        h = page_hash(s->buf + s->head, n);
        g_array_append_val(d->hashes, h);
        stream_consume(s, n);
        done += n;
    }
    d->bytes += seg->filesz;
    return TRUE;
}

static gboolean parse_dump(Stream *s, MemDigest *d, GError **error)
{
    g_autoptr(GArray) loads = g_array_new(FALSE, FALSE, sizeof(LoadSeg));
    ElfInfo info = { 0 };

    if (!parse_ehdr(s, &info, error) || !resolve_phnum(s, &info, error) ||
        !read_loads(s, &info, loads, error)) {
        return FALSE;
    }
    if (loads->len == 0) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_FAILED, "dump has no PT_LOAD segments");
        return FALSE;
    }
    for (guint i = 0; i < loads->len; i++) {
        if (!hash_segment(s, &g_array_index(loads, LoadSeg, i), d, error)) {
            return FALSE;
        }
    }
    return TRUE;
}

/* ---- dump orchestration -------------------------------------------------- */

typedef struct {
    Stream stream;
    MemDigest *digest;
    GError *error;
} Reader;

static gpointer reader_thread(gpointer data)
{
    Reader *r = data;

    parse_dump(&r->stream, r->digest, &r->error);
    /* Trailing ELF sections, or everything after a parse error. */
    stream_drain(&r->stream);
    return NULL;
}

void mem_digest_free(MemDigest *d)
{
    if (!d) {
        return;
    }
    g_array_unref(d->segments);
    g_array_unref(d->hashes);
    g_free(d);
}

static MemDigest *mem_digest_new(void)
{
    MemDigest *d = g_new0(MemDigest, 1);

    d->segments = g_array_new(FALSE, FALSE, sizeof(MemSegment));
    /* 2 GiB of guest RAM is 512 Ki pages. */
    d->hashes = g_array_sized_new(FALSE, FALSE, sizeof(guint64), 1 << 19);
    return d;
}

static int open_fifo(const char *fifo_path, GError **error)
{
    int fd;

    unlink(fifo_path);
    if (mkfifo(fifo_path, 0600) < 0) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_FAILED, "mkfifo %s: %s", fifo_path,
                    g_strerror(errno));
        return -1;
    }
    /* Opening the read side first (non-blocking) lets QEMU's blocking
     * open for writing succeed at once. */
    fd = open(fifo_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        g_set_error(error, DRV_ERROR, DRV_ERROR_FAILED, "open %s: %s", fifo_path,
                    g_strerror(errno));
        unlink(fifo_path);
        return -1;
    }
    /* Bigger pipe: QEMU writes one page per write(). Best effort. */
    fcntl(fd, F_SETPIPE_SZ, FIFO_PIPE_SIZE);
    return fd;
}

MemDigest *mem_digest_collect(QmpClient *qmp, const char *fifo_path,
                              GError **error)
{
    g_autoptr(MemDigest) digest = mem_digest_new();
    g_autoptr(JsonObject) args = json_object_new();
    g_autofree char *protocol = g_strconcat("file:", fifo_path, NULL);
    g_autoptr(GError) qmp_error = NULL;
    Reader r = { 0 };
    GThread *thread;
    gint64 t0 = drv_now_us();
    gboolean ok;

    r.stream.fd = open_fifo(fifo_path, error);
    if (r.stream.fd < 0) {
        return NULL;
    }
    r.stream.buf = g_malloc(STREAM_BUF_SIZE);
    r.digest = digest;
    thread = g_thread_new("mem-digest", reader_thread, &r);

    json_object_set_boolean_member(args, "paging", FALSE);
    json_object_set_string_member(args, "protocol", protocol);
    ok = qmp_client_execute_simple(qmp, "dump-guest-memory", args,
                                   DUMP_TIMEOUT_MS, &qmp_error);
    if (!ok) {
        g_atomic_int_set(&r.stream.cancel, 1);
    }
    g_thread_join(thread);
    close(r.stream.fd);
    g_free(r.stream.buf);
    unlink(fifo_path);

    if (!ok) {
        g_clear_error(&r.error);
        g_propagate_error(error, g_steal_pointer(&qmp_error));
        return NULL;
    }
    if (r.error) {
        g_propagate_prefixed_error(error, r.error, "parsing memory dump: ");
        return NULL;
    }
    digest->elapsed_us = drv_now_us() - t0;
    return g_steal_pointer(&digest);
}

/* ---- comparison --------------------------------------------------------- */

static gboolean same_layout(const MemDigest *a, const MemDigest *b, GString *why)
{
    if (a->segments->len != b->segments->len) {
        g_string_printf(why, "source has %u RAM segments, destination %u",
                        a->segments->len, b->segments->len);
        return FALSE;
    }
    for (guint i = 0; i < a->segments->len; i++) {
        const MemSegment *x = &g_array_index(a->segments, MemSegment, i);
        const MemSegment *y = &g_array_index(b->segments, MemSegment, i);

        if (x->paddr != y->paddr || x->size != y->size) {
            g_string_printf(why, "segment %u differs: source 0x%" G_GINT64_MODIFIER "x+0x%"
                            G_GINT64_MODIFIER "x, destination 0x%" G_GINT64_MODIFIER "x+0x%"
                            G_GINT64_MODIFIER "x", i, x->paddr, x->size, y->paddr, y->size);
            return FALSE;
        }
    }
    return TRUE;
}

gboolean mem_digest_compare(const MemDigest *a, const MemDigest *b,
                            MemCompare *out)
{
    g_autoptr(GString) why = g_string_new(NULL);
    const guint64 *ha = (const guint64 *)a->hashes->data;
    const guint64 *hb = (const guint64 *)b->hashes->data;

    memset(out, 0, sizeof(*out));
    out->pages = a->hashes->len;
    if (!same_layout(a, b, why)) {
        out->layout_error = g_strdup(why->str);
        out->pages = MAX(a->hashes->len, b->hashes->len);
        out->differing = out->pages;
        return FALSE;
    }
    for (guint i = 0; i < a->segments->len; i++) {
        const MemSegment *seg = &g_array_index(a->segments, MemSegment, i);
        gsize npages = (seg->size + MEM_PAGE_SIZE - 1) / MEM_PAGE_SIZE;

        for (gsize j = 0; j < npages; j++) {
            if (ha[seg->first_page + j] == hb[seg->first_page + j]) {
                continue;
            }
            if (out->n_first < MEM_MAX_REPORTED_DIFFS) {
                out->first_diffs[out->n_first++] = seg->paddr + j * MEM_PAGE_SIZE;
            }
            out->differing++;
        }
    }
    return out->differing == 0;
}

void mem_compare_clear(MemCompare *c)
{
    g_clear_pointer(&c->layout_error, g_free);
}
