/** One page of a listing (`admin.users.list`, `admin.audit`): `nextCursor` is its last item's id while more follow. */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** Items per page when the caller names no limit. */
const DEFAULT_PAGE = 50;

/**
 * Reads one page of a listing in its order: `read` is asked for one row more than the page holds,
 * which tells whether another page follows without counting anything.
 */
export async function readPage<Row, Item extends { id: string }>(
  limit: number | undefined,
  read: (rows: number) => PromiseLike<Row[]>,
  toItem: (row: Row) => Item,
): Promise<Page<Item>> {
  const size = limit ?? DEFAULT_PAGE;
  const rows = await read(size + 1);
  const items = rows.slice(0, size).map(toItem);
  const last = items.at(-1);
  return { items, nextCursor: rows.length > size && last ? last.id : null };
}
