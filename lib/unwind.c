/*
 * unwind.c: the profiler's stack walker, cheap enough for every sample.
 *
 * A sample needs the return addresses of the allocating thread.  The DWARF
 * unwinder of libgcc interprets a function's call-frame program again for
 * every frame of every sample; here each return address is looked up once:
 *
 *   1. the module that holds the address comes from _dl_find_object (glibc
 *      2.35, lock-free and async-signal-safe), which also gives the module's
 *      .eh_frame_hdr: a sorted table of functions;
 *   2. the function's FDE (and its CIE) is interpreted up to the address, and
 *      what an unwinder needs on x86-64 is kept as one compact row, like a
 *      row of Linux's ORC table: the CFA is rsp or rbp plus an offset, the
 *      return address is at CFA - 8, the caller's rbp is saved at CFA + k or
 *      left alone;
 *   3. the row goes into a direct-mapped cache keyed by the address, so in
 *      the steady state a frame costs one cache probe and two loads;
 *   4. each thread also keeps the rows of its last walk by depth (16
 *      frames, 256 bytes of TLS): a program that allocates from the same
 *      paths finds most frames there, in four cache lines, instead of one
 *      line of the shared cache per frame (samples are far apart, so the
 *      shared cache's lines are mostly cold when the next one comes);
 *   5. and the stack words its last walk read: a walk that starts at the
 *      same rsp and rbp and finds those words unchanged is the same walk,
 *      so its pcs are the last ones, with no frame walked (a loop that
 *      allocates samples from one stack again and again; gm_uw_last).
 *
 * A module without unwind information for an address is walked by its frame
 * pointers if rbp looks like one (rbp-based frames are exactly what a module
 * built with frame pointers has).  Every load from the stack is checked
 * against the thread's stack bounds (the TCB of a glibc thread sits at the
 * top of its stack; the main thread's stack ends at __libc_stack_end), so a
 * wrong row (say, for a module dlclose()d and replaced since) gives a wrong
 * stack, never a fault.  When the bounds are unknown, or on other
 * architectures, libgcc's _Unwind_Backtrace is used instead.
 *
 * The walk takes no lock (the profiler walks before it takes gm_prof.lock):
 * a row is two words, the address XOR the packed row and the packed row,
 * each read and written whole (relaxed atomics).  A reader that finds
 * (key ^ row) == address has the row written for that address; a read torn
 * between two writers' words fails that test (but for a coincidence of 2^-64
 * odds, which gives a wrong stack, never a fault: every load is bounded) and
 * computes the row again.  Two threads that compute the same row write the
 * same words.  Set-up happens once, under gm_prof.lock; the walker calls
 * nothing else that allocates or locks.  Its counters go to the caller's
 * gm_uw_stats (the profiler adds them to gm_uw_stat under its lock).
 */
#include "internal.h"

#include <dlfcn.h>
#include <link.h>
#include <unwind.h>

#define GM_UW_CACHE 8192 /* rows, a power of two */

enum {
	GM_UW_UNKNOWN = 0, /* no row: try frame pointers */
	GM_UW_CFA_RSP,	   /* CFA = rsp + off */
	GM_UW_CFA_RBP,	   /* CFA = rbp + off */
	GM_UW_END	   /* outermost frame: the return address is undefined */
};

typedef struct gm_uw_row {
	int32_t cfa_off;
	int16_t rbp_off; /* caller's rbp at CFA + rbp_off; 0 = rbp unchanged */
	uint8_t kind;
	uint8_t pad;
} gm_uw_row;

/* A cache slot: key = lookup address ^ row, row = the gm_uw_row's bits; 0, 0 = empty. */
typedef struct gm_uw_slot {
	uint64_t key, row;
} gm_uw_slot;

_Static_assert(sizeof(gm_uw_row) == sizeof(uint64_t), "a row packs into one word");
_Static_assert(offsetof(gm_uw_row, rbp_off) == 4 && offsetof(gm_uw_row, kind) == 6,
	       "GM_UW_RBP_OFF and GM_UW_KIND read these bytes of a packed row");

static uintptr_t gm_uw_self_lo, gm_uw_self_hi; /* libgomem.so's own code */
gm_uw_stats gm_uw_stat;

extern void *__libc_stack_end;

struct gm_uw_slow {
	uint64_t *pcs;
	unsigned n, max;
	bool more;
};

static _Unwind_Reason_Code gm_uw_slow_cb(struct _Unwind_Context *uc, void *arg)
{
	struct gm_uw_slow *c = arg;
	uintptr_t ip = _Unwind_GetIP(uc);

	if (ip == 0)
		return _URC_END_OF_STACK;
	if (ip >= gm_uw_self_lo && ip < gm_uw_self_hi)
		return _URC_NO_REASON;
	if (c->n == c->max) {
		c->more = true;
		return _URC_END_OF_STACK;
	}
	c->pcs[c->n++] = ip;
	return _URC_NO_REASON;
}

/* The slow, general walker: libgcc's. */
static gm_noinline unsigned gm_unwind_slow(uint64_t *pcs, unsigned max, bool *truncated,
					   gm_uw_stats *st)
{
	struct gm_uw_slow c = {pcs, 0, max, false};

	st->slow++;
	_Unwind_Backtrace(gm_uw_slow_cb, &c);
	*truncated = c.more;
	return c.n;
}

#if defined(__x86_64__) && HAVE__DL_FIND_OBJECT

static gm_uw_slot *gm_uw_cache; /* set once (release), with gm_uw_self_lo/hi */
#define GM_UW_MEMO 16
static __thread gm_uw_slot gm_uw_memo[GM_UW_MEMO]; /* this thread's last walk, by depth */
static __thread uintptr_t gm_uw_top;		   /* the top of its stack (gm_uw_stack_top) */

/*
 * The words the thread's last walk read from its stack, in order, to replay
 * it.  A walk is a function of where it starts (its own pc, which is fixed,
 * and the thread's rsp and rbp there) and of the stack words it reads: the
 * return addresses and the saved rbp's, whose addresses follow from the
 * start and the words read before.  So a walk that starts at the same rsp
 * and rbp as the last and finds the same value in each word the last read
 * would repeat it step by step; it returns the last one's pcs instead.
 * Checking a word is a load and a compare where walking its frame is some
 * forty instructions.  A program that allocates in a loop samples from the
 * same stack again and again, and then finds it at once.  Every address
 * here lay between rsp and the top of this thread's stack when it was read,
 * and rsp and that top are the same now: a word is read only when all
 * before it matched, that is, only where the walk itself would now read
 * (after the same bounds checks, on the same values).  Bit i of outs is
 * set when word i is a return address that went into pcs, so the check is a
 * loop of loads and compares and the output a loop over those bits.  n = 0:
 * nothing to replay (a walk longer than the log, truncated or taken by
 * libgcc).
 */
#define GM_UW_LOG 24
static __thread struct gm_uw_log {
	uintptr_t sp, bp, top; /* the walk's start, and the bound it read below */
	unsigned n, frames, npcs; /* frames: 0 after a walk by libgcc */
	uint32_t outs;
	struct gm_uw_word {
		uintptr_t at;
		uint64_t val;
	} w[GM_UW_LOG];
} gm_uw_last;
static bool gm_uw_ready;			   /* set-up tried (gm_prof.lock) */

/* ---- DWARF decoding ---- */

typedef struct gm_rd {
	const uint8_t *p, *end;
	bool bad;
} gm_rd;

static uint64_t gm_uleb(gm_rd *r)
{
	uint64_t v = 0;
	unsigned shift = 0;

	while (r->p < r->end) {
		uint8_t b = *r->p++;

		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		shift += 7;
		if ((b & 0x80) == 0)
			return v;
	}
	r->bad = true;
	return 0;
}

static int64_t gm_sleb(gm_rd *r)
{
	int64_t v = 0;
	unsigned shift = 0;
	uint8_t b = 0;

	while (r->p < r->end) {
		b = *r->p++;
		if (shift < 64)
			v |= (int64_t)((uint64_t)(b & 0x7f) << shift);
		shift += 7;
		if ((b & 0x80) == 0) {
			if (shift < 64 && (b & 0x40))
				v |= -((int64_t)1 << shift);
			return v;
		}
	}
	r->bad = true;
	return 0;
}

static uint64_t gm_rdn(gm_rd *r, unsigned n)
{
	uint64_t v = 0;

	if ((size_t)(r->end - r->p) < n) {
		r->bad = true;
		return 0;
	}
	__builtin_memcpy(&v, r->p, n);
	r->p += n;
	return v;
}

/* A pointer in DW_EH_PE encoding enc; datarel is relative to data. */
static uintptr_t gm_rdptr(gm_rd *r, uint8_t enc, uintptr_t data)
{
	uintptr_t at = (uintptr_t)r->p, v;

	if (enc == 0xff) /* DW_EH_PE_omit */
		return 0;
	switch (enc & 0x0f) {
	case 0x00:
		v = (uintptr_t)gm_rdn(r, 8);
		break;
	case 0x01:
		v = (uintptr_t)gm_uleb(r);
		break;
	case 0x02:
		v = (uintptr_t)gm_rdn(r, 2);
		break;
	case 0x03:
		v = (uintptr_t)gm_rdn(r, 4);
		break;
	case 0x04:
		v = (uintptr_t)gm_rdn(r, 8);
		break;
	case 0x09:
		v = (uintptr_t)gm_sleb(r);
		break;
	case 0x0a:
		v = (uintptr_t)(int64_t)(int16_t)gm_rdn(r, 2);
		break;
	case 0x0b:
		v = (uintptr_t)(int64_t)(int32_t)gm_rdn(r, 4);
		break;
	case 0x0c:
		v = (uintptr_t)gm_rdn(r, 8);
		break;
	default:
		r->bad = true;
		return 0;
	}
	switch (enc & 0x70) {
	case 0x00:
		break;
	case 0x10:
		v += at;
		break; /* pcrel */
	case 0x30:
		v += data;
		break; /* datarel */
	default:
		r->bad = true;
		return 0;
	}
	if (enc & 0x80) /* indirect: not used for code addresses */
		r->bad = true;
	return v;
}

/* The CFI state the interpreter tracks (x86-64 registers 6 rbp, 7 rsp, 16 rip). */
typedef struct gm_cfi {
	uint8_t cfa_reg;
	int64_t cfa_off;
	uint8_t rbp_how; /* 0 same, 1 at CFA + rbp_off, 2 other (unsupported) */
	int64_t rbp_off;
	uint8_t ra_how; /* 1 at CFA + ra_off, 3 undefined, 2 other */
	int64_t ra_off;
} gm_cfi;

typedef struct gm_cie {
	const uint8_t *insn, *end;
	uint64_t code_align;
	int64_t data_align;
	uint64_t ra_reg;
	uint8_t fde_enc;
	bool aug_z;
} gm_cie;

static bool gm_parse_cie(const uint8_t *p, const uint8_t *limit, gm_cie *c)
{
	gm_rd r = {p, limit, false};
	uint64_t len = gm_rdn(&r, 4);
	const char *aug;
	uint8_t version;

	if (len == 0 || len == 0xffffffffu || len > (uint64_t)(limit - r.p))
		return false;
	r.end = r.p + len;
	if (gm_rdn(&r, 4) != 0) /* CIE id */
		return false;
	version = (uint8_t)gm_rdn(&r, 1);
	if (version != 1 && version != 3)
		return false;
	aug = (const char *)r.p;
	while (r.p < r.end && *r.p != 0)
		r.p++;
	if (r.p >= r.end)
		return false;
	r.p++;
	c->code_align = gm_uleb(&r);
	c->data_align = gm_sleb(&r);
	c->ra_reg = version == 1 ? gm_rdn(&r, 1) : gm_uleb(&r);
	c->fde_enc = 0;
	c->aug_z = aug[0] == 'z';
	if (c->aug_z) {
		uint64_t alen = gm_uleb(&r);
		const uint8_t *aend = r.p + alen;
		const char *a;

		if (alen > (uint64_t)(r.end - r.p))
			return false;
		for (a = aug + 1; *a != 0 && !r.bad; a++) {
			if (*a == 'R') {
				c->fde_enc = (uint8_t)gm_rdn(&r, 1);
			} else if (*a == 'P') {
				uint8_t e = (uint8_t)gm_rdn(&r, 1);

				(void)gm_rdptr(&r, e & 0x7f, 0); /* the personality routine */
			} else if (*a == 'L') {
				(void)gm_rdn(&r, 1);
			} else if (*a != 'S' && *a != 'B') {
				break;
			}
		}
		r.p = aend;
	} else if (aug[0] != 0) {
		return false;
	}
	c->insn = r.p;
	c->end = r.end;
	return !r.bad;
}

/*
 * Run call-frame instructions [p, end) while the location is <= target;
 * init is the state after the CIE's instructions (for DW_CFA_restore).
 */
static bool gm_run_cfi(const uint8_t *p, const uint8_t *end, const gm_cie *c, uintptr_t loc,
		       uintptr_t target, gm_cfi *s, const gm_cfi *init)
{
	gm_rd r = {p, end, false};
	gm_cfi stack[8];
	unsigned depth = 0;

	while (r.p < r.end && !r.bad) {
		uint8_t op = *r.p++, low = op & 0x3f;
		uint64_t reg, off;

		switch (op >> 6) {
		case 1: /* advance_loc */
			loc += low * c->code_align;
			if (loc > target)
				return true;
			continue;
		case 2: /* offset */
			off = gm_uleb(&r);
			reg = low;
			goto set_offset;
		case 3: /* restore */
			reg = low;
			goto restore;
		}
		switch (op) {
		case 0x00:
			break; /* nop */
		case 0x01:
			loc = gm_rdptr(&r, c->fde_enc, 0);
			goto advanced;
		case 0x02:
			loc += gm_rdn(&r, 1) * c->code_align;
			goto advanced;
		case 0x03:
			loc += gm_rdn(&r, 2) * c->code_align;
			goto advanced;
		case 0x04:
			loc += gm_rdn(&r, 4) * c->code_align;
			goto advanced;
		case 0x05: /* offset_extended */
			reg = gm_uleb(&r);
			off = gm_uleb(&r);
			goto set_offset;
		case 0x06: /* restore_extended */
			reg = gm_uleb(&r);
			goto restore;
		case 0x07: /* undefined */
			reg = gm_uleb(&r);
			if (reg == 6)
				s->rbp_how = 2;
			else if (reg == c->ra_reg)
				s->ra_how = 3;
			break;
		case 0x08: /* same_value */
			reg = gm_uleb(&r);
			if (reg == 6)
				s->rbp_how = 0;
			break;
		case 0x09: /* register */
			reg = gm_uleb(&r);
			(void)gm_uleb(&r);
			if (reg == 6)
				s->rbp_how = 2;
			else if (reg == c->ra_reg)
				s->ra_how = 2;
			break;
		case 0x0a: /* remember_state */
			if (depth == 8)
				return false;
			stack[depth++] = *s;
			break;
		case 0x0b: /* restore_state */
			if (depth == 0)
				return false;
			*s = stack[--depth]; /* the whole row, CFA rule included */
			break;
		case 0x0c: /* def_cfa */
			s->cfa_reg = (uint8_t)gm_uleb(&r);
			s->cfa_off = (int64_t)gm_uleb(&r);
			break;
		case 0x0d: /* def_cfa_register */
			s->cfa_reg = (uint8_t)gm_uleb(&r);
			break;
		case 0x0e: /* def_cfa_offset */
			s->cfa_off = (int64_t)gm_uleb(&r);
			break;
		case 0x0f: /* def_cfa_expression */
			s->cfa_reg = 0xff;
			off = gm_uleb(&r);
			if (off > (uint64_t)(r.end - r.p))
				return false;
			r.p += off;
			break;
		case 0x10: /* expression */
		case 0x16: /* val_expression */
			reg = gm_uleb(&r);
			off = gm_uleb(&r);
			if (off > (uint64_t)(r.end - r.p))
				return false;
			r.p += off;
			if (reg == 6)
				s->rbp_how = 2;
			else if (reg == c->ra_reg)
				s->ra_how = 2;
			break;
		case 0x11: /* offset_extended_sf */
			reg = gm_uleb(&r);
			off = (uint64_t)(gm_sleb(&r) * c->data_align);
			goto set_scaled;
		case 0x12: /* def_cfa_sf */
			s->cfa_reg = (uint8_t)gm_uleb(&r);
			s->cfa_off = gm_sleb(&r) * c->data_align;
			break;
		case 0x13: /* def_cfa_offset_sf */
			s->cfa_off = gm_sleb(&r) * c->data_align;
			break;
		case 0x14: /* val_offset */
		case 0x15: /* val_offset_sf */
			reg = gm_uleb(&r);
			if (op == 0x14)
				(void)gm_uleb(&r);
			else
				(void)gm_sleb(&r);
			if (reg == 6)
				s->rbp_how = 2;
			else if (reg == c->ra_reg)
				s->ra_how = 2;
			break;
		case 0x2e: /* GNU_args_size */
			(void)gm_uleb(&r);
			break;
		case 0x2f: /* GNU_negative_offset_extended */
			reg = gm_uleb(&r);
			off = (uint64_t)(-(int64_t)gm_uleb(&r) * c->data_align);
			goto set_scaled;
		default:
			return false;
		}
		continue;
	advanced:
		if (loc > target)
			return true;
		continue;
	set_offset:
		off = (uint64_t)((int64_t)off * c->data_align);
	set_scaled:
		if (reg == 6) {
			s->rbp_how = 1;
			s->rbp_off = (int64_t)off;
		} else if (reg == c->ra_reg) {
			s->ra_how = 1;
			s->ra_off = (int64_t)off;
		}
		continue;
	restore:
		if (init == NULL)
			return false;
		if (reg == 6) {
			s->rbp_how = init->rbp_how;
			s->rbp_off = init->rbp_off;
		} else if (reg == c->ra_reg) {
			s->ra_how = init->ra_how;
			s->ra_off = init->ra_off;
		}
		continue;
	}
	return !r.bad;
}

/* Compute the row for addr from its module's .eh_frame_hdr. */
static void gm_uw_compute(uintptr_t addr, gm_uw_row *row, gm_uw_stats *st)
{
	struct dl_find_object fo;
	const uint8_t *hdr, *fde = NULL, *cie_at;
	gm_rd r;
	uint8_t fp_enc, cnt_enc, tab_enc;
	uintptr_t count, lo, hi, pc_begin, pc_range;
	gm_cie c;
	gm_cfi init, s;
	const int32_t *tab;

	*row = (gm_uw_row){.kind = GM_UW_UNKNOWN};
	st->computed++;
	if (_dl_find_object((void *)addr, &fo) != 0 || fo.dlfo_eh_frame == NULL)
		return;
	hdr = fo.dlfo_eh_frame;
	/* Nobody tells us the header's length: the table's entries are bounded by
	   fde_count, which we trust as much as the code we run. */
	r = (gm_rd){hdr + 4, hdr + 4 + 16, false};
	if (hdr[0] != 1)
		return;
	fp_enc = hdr[1];
	cnt_enc = hdr[2];
	tab_enc = hdr[3];
	(void)gm_rdptr(&r, fp_enc, (uintptr_t)hdr);
	count = gm_rdptr(&r, cnt_enc, (uintptr_t)hdr);
	if (r.bad || tab_enc != 0x3b || count == 0 || count > (1u << 24))
		return;
	tab = (const int32_t *)r.p;
	lo = 0;
	hi = count;
	while (hi - lo > 1) { /* last entry with initial_loc <= addr */
		uintptr_t mid = (lo + hi) / 2;

		if ((uintptr_t)hdr + (intptr_t)tab[2 * mid] <= addr)
			lo = mid;
		else
			hi = mid;
	}
	if ((uintptr_t)hdr + (intptr_t)tab[2 * lo] > addr)
		return;
	fde = hdr + (intptr_t)tab[2 * lo + 1];

	/* The FDE: length, CIE pointer, pc_begin, pc_range, augmentation, insns. */
	r = (gm_rd){fde, fde + 8, false};
	{
		uint32_t len = (uint32_t)gm_rdn(&r, 4);
		uint32_t cie_off;

		if (len == 0 || len == 0xffffffffu || len > (1u << 24))
			return;
		r.end = fde + 4 + len;
		cie_at = r.p;
		cie_off = (uint32_t)gm_rdn(&r, 4);
		if (cie_off == 0)
			return;
		cie_at -= cie_off;
	}
	if (!gm_parse_cie(cie_at, cie_at + (1u << 20), &c))
		return;
	pc_begin = gm_rdptr(&r, c.fde_enc, 0);
	pc_range = gm_rdptr(&r, c.fde_enc & 0x0f, 0);
	if (r.bad || addr < pc_begin || addr - pc_begin >= pc_range)
		return;
	if (c.aug_z) {
		uint64_t alen = gm_uleb(&r);

		if (alen > (uint64_t)(r.end - r.p))
			return;
		r.p += alen;
	}
	init = (gm_cfi){.cfa_reg = 7, .cfa_off = 8, .ra_how = 1, .ra_off = -8};
	if (!gm_run_cfi(c.insn, c.end, &c, pc_begin, UINTPTR_MAX, &init, NULL))
		return;
	s = init;
	if (!gm_run_cfi(r.p, r.end, &c, pc_begin, addr, &s, &init))
		return;
	if (s.ra_how == 3) {
		row->kind = GM_UW_END;
		return;
	}
	if (s.ra_how != 1 || s.ra_off != -8 || s.rbp_how == 2 || s.cfa_off < 0 ||
	    s.cfa_off > INT32_MAX || s.rbp_off < INT16_MIN || s.rbp_off > INT16_MAX)
		return;
	if (s.cfa_reg == 7)
		row->kind = GM_UW_CFA_RSP;
	else if (s.cfa_reg == 6)
		row->kind = GM_UW_CFA_RBP;
	else
		return;
	row->cfa_off = (int32_t)s.cfa_off;
	row->rbp_off = s.rbp_how == 1 ? (int16_t)s.rbp_off : 0;
}

/* The cached row for addr (computed on a miss). */
static inline gm_uw_row gm_uw_lookup(gm_uw_slot *cache, uintptr_t addr, gm_uw_stats *st)
{
	gm_uw_slot *slot = &cache[((addr >> 1) * 0x9e3779b97f4a7c15u) >> (64 - 13)];
	uint64_t bits = __atomic_load_n(&slot->row, __ATOMIC_RELAXED);
	gm_uw_row row;

	if (gm_likely((__atomic_load_n(&slot->key, __ATOMIC_RELAXED) ^ bits) == addr)) {
		st->hits++;
		__builtin_memcpy(&row, &bits, sizeof(row));
		return row;
	}
	gm_uw_compute(addr, &row, st);
	__builtin_memcpy(&bits, &row, sizeof(bits));
	__atomic_store_n(&slot->row, bits, __ATOMIC_RELAXED);
	__atomic_store_n(&slot->key, addr ^ bits, __ATOMIC_RELAXED);
	return row;
}

/*
 * Set up the cache and the range of libgomem's own code, once: the cache
 * pointer, stored last, publishes the range.  NULL if out of memory.
 */
static gm_noinline gm_uw_slot *gm_uw_init(void)
{
	struct dl_find_object fo;
	gm_uw_slot *c;

	gm_lock_acquire(&gm_prof.lock);
	if (!gm_uw_ready) {
		gm_uw_ready = true;
		c = gm_sys_alloc(GM_UW_CACHE * sizeof(gm_uw_slot), &gm_stat_buckhash_sys);
		/* Frames in libgomem.so are not the program's: drop them.  When the
		   allocator is linked into the program itself, keep everything. */
		if (_dl_find_object((void *)&gm_uw_init, &fo) == 0 && fo.dlfo_link_map != NULL &&
		    fo.dlfo_link_map->l_name != NULL && fo.dlfo_link_map->l_name[0] != 0) {
			gm_uw_self_lo = (uintptr_t)fo.dlfo_map_start;
			gm_uw_self_hi = (uintptr_t)fo.dlfo_map_end;
		}
		__atomic_store_n(&gm_uw_cache, c, __ATOMIC_RELEASE);
	}
	gm_lock_release(&gm_prof.lock);
	return __atomic_load_n(&gm_uw_cache, __ATOMIC_ACQUIRE);
}

/* The top of the calling thread's stack, or 0 if unknown. */
static uintptr_t gm_uw_stack_top(uintptr_t sp)
{
	uintptr_t self = (uintptr_t)pthread_self(), end = (uintptr_t)__libc_stack_end;

	if (self > sp && self - sp < ((uintptr_t)1 << 30))
		return self; /* a glibc thread: its TCB tops its stack */
	if (end > sp && end - sp < ((uintptr_t)1 << 30))
		return end; /* the main thread */
	return 0;
}

/* A packed row's fields (gm_uw_row, little-endian). */
#define GM_UW_KIND(bits)    ((uint8_t)((bits) >> 48))
#define GM_UW_CFA_OFF(bits) ((uintptr_t)(intptr_t)(int32_t)(bits))
#define GM_UW_RBP_OFF(bits) ((uintptr_t)(intptr_t)(int16_t)((bits) >> 32))

/* Log the stack word v read at at; an unaligned word or one past the log's
   end leaves the walk unreplayable (nlog > GM_UW_LOG). */
#define GM_UW_LOG_WORD(at_, v_)                                                                   \
	do {                                                                                      \
		if (nlog < GM_UW_LOG && ((at_) % 8) == 0) {                                       \
			gm_uw_last.w[nlog].at = (at_);                                            \
			gm_uw_last.w[nlog].val = (v_);                                            \
			nlog++;                                                                   \
		} else {                                                                          \
			nlog = GM_UW_LOG + 1;                                                     \
		}                                                                                 \
	} while (0)

/*
 * Walk the calling thread's stack into pcs (at most max return addresses,
 * innermost first, frames of libgomem.so left out); *truncated is set when
 * frames were left over.  Counts go to *st; st->same counts a walk whose
 * every frame was the thread's last walk's (so pcs are the same as then),
 * st->replayed those of them found from its stack words alone (gm_uw_last).
 * Takes no lock (but once).
 */
gm_noinline unsigned gm_unwind(uint64_t *pcs, unsigned max, bool *truncated, gm_uw_stats *st)
{
	uintptr_t pc, sp, bp, top, cfa, ra, a;
	uintptr_t self_lo = gm_uw_self_lo, self_len = gm_uw_self_hi - gm_uw_self_lo;
	unsigned frames = 0, missed = 0, nlog = 0, rai = 0;
	gm_uw_slot *cache = __atomic_load_n(&gm_uw_cache, __ATOMIC_ACQUIRE);
	gm_uw_slot *m = gm_uw_memo; /* one TLS address for the whole walk */
	uint64_t *out = pcs, *end = pcs + max;

	*truncated = false;
	if (gm_unlikely(cache == NULL)) {
		if ((cache = gm_uw_init()) == NULL) {
			gm_uw_last.frames = gm_uw_last.n = 0; /* the next walk is not this one */
			return gm_unwind_slow(pcs, max, truncated, st);
		}
		self_lo = gm_uw_self_lo;
		self_len = gm_uw_self_hi - gm_uw_self_lo;
	}
	__asm__ volatile("lea 0(%%rip), %0\n\tmov %%rsp, %1\n\tmov %%rbp, %2"
			 : "=r"(pc), "=r"(sp), "=r"(bp));
	top = gm_uw_top; /* the thread's, unless sp is on another stack */
	if (gm_unlikely(!(top > sp && top - sp < ((uintptr_t)1 << 30)))) {
		gm_uw_top = top = gm_uw_stack_top(sp);
		if (top == 0) {
			gm_uw_last.frames = gm_uw_last.n = 0;
			return gm_unwind_slow(pcs, max, truncated, st);
		}
	}
	if (sp == gm_uw_last.sp && bp == gm_uw_last.bp && top == gm_uw_last.top &&
	    gm_uw_last.n != 0 && gm_uw_last.npcs < max) {
		const struct gm_uw_word *w = gm_uw_last.w, *wend = w + gm_uw_last.n;

		for (; w < wend; w++)
			if (*(const uint64_t *)w->at != w->val)
				break;
		if (w == wend) {
			for (uint32_t o = gm_uw_last.outs; o != 0; o &= o - 1)
				*out++ = gm_uw_last.w[__builtin_ctz(o)].val;
			st->replayed++;
			st->same++;
			st->memo += gm_uw_last.frames;
			return (unsigned)(out - pcs);
		}
	}
	gm_uw_last.sp = sp;
	gm_uw_last.bp = bp;
	gm_uw_last.top = top;
	gm_uw_last.outs = 0;
	/*
	 * a is the address a frame's row is looked up by: the pc itself for
	 * this frame, the return address less one (inside the call) for the
	 * callers.  In the steady state a frame is the memo's two words, the
	 * row's rule, one or two bounded loads from the stack and the store of
	 * the return address: about 20 instructions.
	 */
	for (a = pc;; m++) {
		uint64_t bits;

		if (gm_likely(frames < GM_UW_MEMO) && ((bits = m->row) ^ m->key) == a) {
			/* the row of this depth's last walk */
		} else {
			gm_uw_row row = gm_uw_lookup(cache, a, st);

			missed++;
			__builtin_memcpy(&bits, &row, sizeof(bits));
			if (frames < GM_UW_MEMO)
				*m = (gm_uw_slot){a ^ bits, bits};
		}
		if (gm_unlikely(++frames > 1024))
			break;
		if (gm_likely(GM_UW_KIND(bits) == GM_UW_CFA_RSP)) {
			cfa = sp + GM_UW_CFA_OFF(bits);
		} else if (GM_UW_KIND(bits) == GM_UW_CFA_RBP) {
			cfa = bp + GM_UW_CFA_OFF(bits);
		} else if (GM_UW_KIND(bits) == GM_UW_UNKNOWN) {
			/* Frame pointers: [rbp] is the caller's rbp, [rbp + 8] the return. */
			if (bp <= sp || bp > top - 16 || (bp & 7) != 0)
				break;
			st->fp++;
			cfa = bp + 16;
			ra = *(const uintptr_t *)(bp + 8);
			GM_UW_LOG_WORD(bp + 8, ra);
			rai = nlog;
			GM_UW_LOG_WORD(bp, *(const uintptr_t *)bp);
			bp = *(const uintptr_t *)bp;
			goto next;
		} else {
			break; /* the outermost frame */
		}
		/* The return address at cfa - 8 must lie in [sp, top - 8]. */
		if (cfa - 8 - sp > top - 8 - sp || (cfa & 7) != 0)
			break;
		ra = *(const uintptr_t *)(cfa - 8);
		GM_UW_LOG_WORD(cfa - 8, ra);
		rai = nlog;
		if (GM_UW_RBP_OFF(bits) != 0) {
			uintptr_t at = cfa + GM_UW_RBP_OFF(bits);

			if (at - sp > top - 8 - sp)
				break;
			bp = *(const uintptr_t *)at;
			GM_UW_LOG_WORD(at, bp);
		}
	next:
		if (ra < 4096)
			break;
		sp = cfa;
		a = ra - 1;
		if (ra - self_lo < self_len)
			continue; /* libgomem's own frame */
		if (gm_unlikely(out == end)) {
			*truncated = true;
			nlog = GM_UW_LOG + 1;
			break;
		}
		*out++ = ra;
		if (rai <= GM_UW_LOG)
			gm_uw_last.outs |= (uint32_t)1 << (rai - 1);
	}
	/* Every pc put in pcs was looked up at its depth in a later round. */
	st->memo += frames - missed;
	if (missed == 0 && frames == gm_uw_last.frames)
		st->same++;
	gm_uw_last.n = nlog <= GM_UW_LOG ? nlog : 0;
	gm_uw_last.frames = frames;
	gm_uw_last.npcs = (unsigned)(out - pcs);
	return (unsigned)(out - pcs);
}
#else
gm_noinline unsigned gm_unwind(uint64_t *pcs, unsigned max, bool *truncated, gm_uw_stats *st)
{
	return gm_unwind_slow(pcs, max, truncated, st);
}
#endif
