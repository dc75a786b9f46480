import { existsSync, watch, type FSWatcher } from 'node:fs';
import type { Logger } from '../../ports/logger.ts';

export interface ForeignWriteWatch {
  close(): void;
}

/**
 * Calls `onWrite` soon after another process commits to the SQLite file at `path` (a `reeve
 * submit`, a client's submit, retry or approval, another node's hand-back), so a running node
 * need not wait for its poll to find the work.
 *
 * Every commit in WAL mode appends to `<path>-wal`; the OS reports the change (inotify,
 * FSEvents). The node's own commits change the file too: `dataVersion` (SQLite's `PRAGMA
 * data_version` on the node's connection, which moves only when another connection committed)
 * tells them apart, so a node's own writes never wake it. The kernel merges unread identical
 * events, so a burst of commits costs about one callback per turn of the event loop; while
 * `wanted()` says no (the node has no free slot), a callback is all it costs.
 *
 * Best effort: where the file cannot be watched (it does not exist yet, a network file system
 * that reports nothing, too many watches), the caller's poll finds the work as before.
 */
export function watchForeignWrites(path: string, dataVersion: () => number, onWrite: () => void, log: Logger, wanted: () => boolean = () => true): ForeignWriteWatch {
  const wal = `${path}-wal`;
  let seen = dataVersion();
  let watcher: FSWatcher | undefined;
  let closed = false;
  const arm = () => {
    watcher?.close();
    watcher = undefined;
    if (closed || !existsSync(wal)) return;
    try {
      watcher = watch(wal, { persistent: false }, (event) => {
        // The WAL was replaced (deleted with the last connection, then made anew): watch the new one.
        if (event === 'rename') setImmediate(arm);
        // Nothing to wake for (every slot busy: a freed slot claims anyway): no look. The version
        // stays as last seen, so a change since is still noticed on the next event.
        if (!wanted()) return;
        let now: number;
        try {
          now = dataVersion();
        } catch {
          return; // the store is closing
        }
        if (now === seen) return;
        seen = now;
        onWrite();
      });
      watcher.on('error', (err) => {
        log.debug({ err, wal }, 'cannot watch the store for writes of other processes; polling finds them');
        watcher?.close();
        watcher = undefined;
      });
    } catch (err) {
      log.debug({ err, wal }, 'cannot watch the store for writes of other processes; polling finds them');
    }
  };
  arm();
  return {
    close: () => {
      closed = true;
      watcher?.close();
    },
  };
}
