/** Which table a statement writes: the read cache's invalidation (read-cache.ts) and the direct path's (sqlite-direct.ts). */
import type { OperationNode, RootOperationNode } from 'kysely';

/** null for a read; the table an insert, update or delete writes; undefined (any table) for raw SQL. */
export function writtenTable(node: RootOperationNode): string | null | undefined {
  switch (node.kind) {
    case 'SelectQueryNode':
      return null;
    case 'InsertQueryNode':
      return tableOf(node.into);
    case 'UpdateQueryNode':
      return tableOf(node.table);
    case 'DeleteQueryNode':
      return node.from.froms.length === 1 ? tableOf(node.from.froms[0]) : undefined;
    default:
      return undefined;
  }
}

function tableOf(node: OperationNode | undefined): string | undefined {
  if (node?.kind === 'AliasNode') return tableOf((node as unknown as { node: OperationNode }).node);
  if (node?.kind === 'TableNode')
    return (node as unknown as { table: { identifier: { name: string } } }).table.identifier.name;
  return undefined;
}
