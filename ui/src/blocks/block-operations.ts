/** The GraphQL documents of the Blocks page (the API's `blocks` and `liftBlock`), and the shape it reads back. */

export interface BlockRow {
  gatewayId: string;
  gateway: { id: string; name: string; region: string } | null;
  userName: string;
  until: string;
  blockedAt: string;
  blockedBy: string;
  reason: string | null;
  /** What the disconnect told the user. */
  message: string | null;
  sessionId: string | null;
}

const BLOCK_FIELDS = 'gatewayId gateway { id name region } userName until blockedAt blockedBy reason message sessionId';

export const BLOCKS = `query Blocks($filter: BlockFilter) { blocks(filter: $filter) { ${BLOCK_FIELDS} } }`;

export const LIFT_BLOCK = `mutation LiftBlock($input: LiftBlockInput!) { liftBlock(input: $input) { ${BLOCK_FIELDS} } }`;
