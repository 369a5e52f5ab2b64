import { getIntrospectionQuery, parse, Kind, type SelectionSetNode, type FragmentDefinitionNode } from 'graphql';
const doc = parse(getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, schemaDescription: true, inputValueDeprecation: true }));
const frags = new Map<string, FragmentDefinitionNode>();
for (const d of doc.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) frags.set(d.name.value, d);
function depth(s: SelectionSetNode, d: number): number {
  let m = d;
  for (const sel of s.selections) {
    if (sel.kind === Kind.FIELD) m = Math.max(m, sel.selectionSet ? depth(sel.selectionSet, d + 1) : d + 1);
    else if (sel.kind === Kind.FRAGMENT_SPREAD) m = Math.max(m, depth(frags.get(sel.name.value)!.selectionSet, d));
    else m = Math.max(m, depth(sel.selectionSet, d));
  }
  return m;
}
for (const d of doc.definitions) if (d.kind === Kind.OPERATION_DEFINITION) console.log(depth(d.selectionSet, 0));
