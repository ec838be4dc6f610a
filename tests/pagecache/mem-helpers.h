/* SPDX-License-Identifier: MIT */
/*
 * Shared by the memory pressure tests: a fake writeback device and the
 * ->writepages that feeds it.  t_writepages() "writes" dirty folios the
 * way a filesystem does (writeback_iter, folio_start_writeback, unlock),
 * then ends their writeback at once, or, when t_wbdev is set, from the
 * device's thread, which can be slowed down or paused.  The "disk" always
 * holds the file's pattern (pc-helpers.h), and writers only ever write
 * that pattern, so every read can be checked.
 */
#ifndef T_MEM_HELPERS_H
#define T_MEM_HELPERS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "pc-helpers.h"

struct t_wbdev;

/* NULL: t_writepages() ends writeback before it returns. */
extern _Atomic(struct t_wbdev *) t_wbdev;

/* Start a device thread that ends each queued writeback after @delay_us. */
struct t_wbdev *t_wbdev_start(unsigned int delay_us);
/* While paused, nothing queued completes. */
void t_wbdev_pause(struct t_wbdev *dev, bool paused);
/* Unpause, complete everything queued, join and free; t_wbdev is reset if it was @dev. */
void t_wbdev_stop(struct t_wbdev *dev);
uint64_t t_wbdev_completed(struct t_wbdev *dev);

/* What t_writepages() did and how it behaves. */
extern _Atomic uint64_t t_wb_calls, t_wb_folios;
extern _Atomic int t_wb_busy; /* calls in progress */
extern _Atomic unsigned int t_wb_delay_us; /* sleep per folio inside the call */
extern _Atomic int t_wb_error; /* returned by every call when not 0 */

int t_writepages(struct address_space *mapping, struct writeback_control *wbc);

/* t_sync_aops plus t_writepages. */
extern const struct address_space_ops t_wb_aops;

struct pagecache *t_cache_create_opts(const struct pagecache_opts *opts);

/*
 * Like a buffered write of the file's own data over page @index: fill,
 * mark uptodate and dirty.  Returns 0 or filemap_get_folio()'s error.
 */
int t_dirty_page(struct t_file *f, uint64_t index);

/* Fail unless the cache's data bytes stayed within budget + slack. */
void t_check_peak_within_slack(struct pagecache *cache);

uint64_t t_now_ms(void);

#endif /* T_MEM_HELPERS_H */
