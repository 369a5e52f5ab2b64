/** Which table a statement writes: the read cache's invalidation (read-cache.ts) and the direct path's (sqlite-direct.ts). */
import type { OperationNode, RootOperationNode } from 'kysely';

/**
 * null for a read; the table an insert, update or delete writes; undefined (any table) for raw SQL
 * and for a statement whose WITH writes (a data-modifying common table expression: a SELECT that
 * updates, an insert that also inserts elsewhere), whatever its main part does.
 */
export function writtenTable(node: RootOperationNode): string | null | undefined {
  if (writesInWith(node)) return undefined;
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

/** Whether a common table expression of `node` (at any depth) is anything but a read. */
function writesInWith(node: OperationNode): boolean {
  const ctes = (node as { with?: { expressions: readonly { expression: OperationNode }[] } }).with?.expressions;
  return (ctes ?? []).some((c) => c.expression.kind !== 'SelectQueryNode' || writesInWith(c.expression));
}

function tableOf(node: OperationNode | undefined): string | undefined {
  if (node?.kind === 'AliasNode') return tableOf((node as unknown as { node: OperationNode }).node);
  if (node?.kind === 'TableNode')
    return (node as unknown as { table: { identifier: { name: string } } }).table.identifier.name;
  return undefined;
}
