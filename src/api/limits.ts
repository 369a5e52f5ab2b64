/**
 * Query limits as one validation rule, so a query that is too big is refused as a whole, before any
 * resolver runs: depth, aliases, and a cost that counts every field instance times the page size
 * (`first`) of the connections above it. Fragments are expanded; the walk stops as soon as a limit is
 * passed, so a fragment bomb costs no more to refuse than `maxCost` steps. Introspection is left to
 * graphql-js's MaxIntrospectionDepthRule (whose error document-cache.ts also codes QUERY_TOO_COMPLEX).
 */
import {
  GraphQLError,
  getNamedType,
  isInterfaceType,
  isObjectType,
  Kind,
  type FieldNode,
  type GraphQLField,
  type GraphQLNamedType,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';

export interface QueryLimits {
  /** Deepest field nesting (the root fields are depth 1). */
  maxDepth: number;
  /** Aliased field instances per operation (fragments expanded). */
  maxAliases: number;
  /** Field instances, each multiplied by the `first` of the connections above it. */
  maxCost: number;
  /** The largest `first` a connection accepts; a `first` given as a variable counts as this. */
  maxPageSize: number;
}

export const DEFAULT_LIMITS: QueryLimits = { maxDepth: 12, maxAliases: 20, maxCost: 50_000, maxPageSize: 500 };

interface Walk {
  depth: number;
  aliases: number;
  cost: number;
  over: boolean;
}

export function queryLimitsRule(limits: QueryLimits = DEFAULT_LIMITS): ValidationRule {
  return (context: ValidationContext) => ({
    OperationDefinition(operation: OperationDefinitionNode) {
      const root = context.getSchema().getRootType(operation.operation) ?? undefined;
      const walk: Walk = { depth: 0, aliases: 0, cost: 0, over: false };
      visitSelections(context, limits, operation, operation.selectionSet, root, 1, 1, walk, new Set());
      const reasons: string[] = [];
      if (walk.depth > limits.maxDepth) reasons.push(`deeper than ${limits.maxDepth} levels`);
      if (walk.aliases > limits.maxAliases) reasons.push(`more than ${limits.maxAliases} aliases`);
      if (walk.cost > limits.maxCost) reasons.push(`costs more than ${limits.maxCost} (fields × first)`);
      if (reasons.length > 0) {
        context.reportError(
          new GraphQLError(`Query is too complex: ${reasons.join(', ')}`, {
            nodes: operation,
            extensions: { code: 'QUERY_TOO_COMPLEX' },
          }),
        );
      }
      return false;
    },
  });
}

function visitSelections(
  context: ValidationContext,
  limits: QueryLimits,
  operation: OperationDefinitionNode,
  selectionSet: SelectionSetNode,
  parent: GraphQLNamedType | undefined,
  depth: number,
  multiplier: number,
  walk: Walk,
  fragmentPath: Set<string>,
): void {
  for (const selection of selectionSet.selections) {
    if (walk.over) return;
    if (selection.kind === Kind.FIELD) {
      if (selection.alias) walk.aliases += 1;
      walk.cost += multiplier;
      if (depth > walk.depth) walk.depth = depth;
      walk.over = walk.depth > limits.maxDepth || walk.aliases > limits.maxAliases || walk.cost > limits.maxCost;
      // Introspection (`__schema`, `__type`) is bounded by graphql-js's own MaxIntrospectionDepthRule;
      // counting it here would refuse the standard introspection query (15 levels deep).
      if (selection.selectionSet && !walk.over && !selection.name.value.startsWith('__')) {
        const field = fieldOf(parent, selection.name.value);
        const next = multiplier * pageSize(selection, field, operation, limits.maxPageSize);
        const type = field ? getNamedType(field.type) : undefined;
        visitSelections(context, limits, operation, selection.selectionSet, type, depth + 1, next, walk, fragmentPath);
      }
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      const type = selection.typeCondition
        ? (context.getSchema().getType(selection.typeCondition.name.value) ?? undefined)
        : parent;
      visitSelections(context, limits, operation, selection.selectionSet, type, depth, multiplier, walk, fragmentPath);
    } else {
      const name = selection.name.value;
      const fragment = context.getFragment(name);
      // A cycle is NoFragmentCycles' to report; here it must only not loop.
      if (!fragment || fragmentPath.has(name)) continue;
      fragmentPath.add(name);
      const type = context.getSchema().getType(fragment.typeCondition.name.value) ?? undefined;
      visitSelections(context, limits, operation, fragment.selectionSet, type, depth, multiplier, walk, fragmentPath);
      fragmentPath.delete(name);
    }
  }
}

function fieldOf(parent: GraphQLNamedType | undefined, name: string): GraphQLField<unknown, unknown> | undefined {
  if (parent === undefined || !(isObjectType(parent) || isInterfaceType(parent))) return undefined;
  return parent.getFields()[name];
}

/** How many items a field with a `first` argument may return: its literal, default, or the maximum. */
function pageSize(
  node: FieldNode,
  field: GraphQLField<unknown, unknown> | undefined,
  operation: OperationDefinitionNode,
  max: number,
): number {
  const definition = field?.args.find((a) => a.name === 'first');
  if (definition === undefined) return 1;
  const argument = node.arguments?.find((a) => a.name.value === 'first');
  let value: unknown = definition.defaultValue;
  if (argument?.value.kind === Kind.INT) value = Number(argument.value.value);
  else if (argument?.value.kind === Kind.VARIABLE) {
    const name = argument.value.name.value;
    const variable = operation.variableDefinitions?.find((v) => v.variable.name.value === name);
    value = variable?.defaultValue?.kind === Kind.INT ? Number(variable.defaultValue.value) : max;
  }
  // Out-of-range values are the resolver's to reject with BAD_USER_INPUT; here they only must not
  // make the estimate absurd.
  return typeof value === 'number' && Number.isFinite(value) ? Math.min(Math.max(Math.trunc(value), 1), max) : max;
}
