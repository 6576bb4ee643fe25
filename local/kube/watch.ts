/**
 * LIST and WATCH: the matching objects, and a chunked stream of events that resumes from a
 * resourceVersion — or answers 410 Expired when the history no longer reaches back that far.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fieldMatcher, isRecord, labelMatcher, type ResourceRequest } from './http.ts';
import { apiVersionOf } from './resources.ts';
import { failureStatus } from './status.ts';
import type { ObjectStore, StoreEvent } from './store.ts';

/** A LIST answer: the matching objects and the store's resourceVersion. */
export function list(store: ObjectStore, request: ResourceRequest): unknown {
  const labels = labelMatcher(request.query.get('labelSelector'));
  const fields = fieldMatcher(request.query.get('fieldSelector'));
  const items = store
    .list(request.type, request.namespace)
    .filter((o) => fields.test(o) && labels(isRecord(o.metadata.labels) ? o.metadata.labels : {}));
  return {
    apiVersion: apiVersionOf(request.type),
    kind: `${request.type.kind}List`,
    metadata: { resourceVersion: String(store.resourceVersion) },
    items,
  };
}

export interface WatchContext {
  store: ObjectStore;
  /** Open watches, ended when the stand-in closes. */
  watches: Set<ServerResponse>;
  bookmarkIntervalMs: number;
}

/** A WATCH: a chunked stream of events from a resourceVersion (or the current objects), bookmarks, timeout. */
export function watch(context: WatchContext, req: IncomingMessage, res: ServerResponse, request: ResourceRequest): void {
  const { store, watches, bookmarkIntervalMs } = context;
  const labels = labelMatcher(request.query.get('labelSelector'));
  const fields = fieldMatcher(request.query.get('fieldSelector'));
  const matches = (event: StoreEvent) =>
    event.resource === request.type &&
    (request.namespace === undefined || event.object.metadata.namespace === request.namespace) &&
    fields.test(event.object) &&
    labels(isRecord(event.object.metadata.labels) ? event.object.metadata.labels : {});
  res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
  res.flushHeaders(); // clients wait for the headers before they start reading events
  const write = (type: string, object: unknown) => res.write(`${JSON.stringify({ type, object })}\n`);
  const from = request.query.get('resourceVersion');
  let backlog: StoreEvent[] | 'expired';
  if (from === null || from === '' || from === '0') {
    // No starting point: like the real server, a synthetic ADDED for every current object.
    backlog = store
      .list(request.type, request.namespace)
      .map((object) => ({ type: 'ADDED', resource: request.type, object, rv: Number(object.metadata.resourceVersion), origin: 'user' }));
  } else {
    const rv = Number(from);
    if (!Number.isInteger(rv) || rv < 0) {
      write('ERROR', failureStatus(400, 'BadRequest', `invalid resourceVersion "${from}"`));
      res.end();
      return;
    }
    backlog = store.eventsSince(rv);
  }
  if (backlog === 'expired') {
    // A watch from a compacted resourceVersion: 410 with reason Expired (apierrors.NewResourceExpired,
    // k8s.io/apiserver storage/cacher: "too old resource version: X (Y)"), which client-node's informer answers by re-listing.
    write('ERROR', failureStatus(410, 'Expired', `too old resource version: ${from} (${store.resourceVersion})`));
    res.end();
    return;
  }
  for (const event of backlog) if (matches(event)) write(event.type, event.object);
  watches.add(res);
  const unsubscribe = store.subscribe((event) => {
    if (matches(event)) write(event.type, event.object);
  });
  const timers: Array<ReturnType<typeof setTimeout>> = [];
  if (request.query.get('allowWatchBookmarks') === 'true') {
    timers.push(
      setInterval(
        () =>
          write('BOOKMARK', {
            apiVersion: apiVersionOf(request.type),
            kind: request.type.kind,
            metadata: { resourceVersion: String(store.resourceVersion) },
          }),
        bookmarkIntervalMs,
      ),
    );
  }
  const timeoutSeconds = Number(request.query.get('timeoutSeconds') ?? '0');
  if (timeoutSeconds > 0) timers.push(setTimeout(() => res.end(), timeoutSeconds * 1000));
  const stop = () => {
    unsubscribe();
    timers.forEach(clearTimeout);
    watches.delete(res);
  };
  res.on('close', stop);
  req.on('close', stop);
}
