/** The History page's query: sessions online and ended, newest first. */

export interface HistoryFilter {
  userName?: string;
  address?: string;
  ended?: boolean;
}

export interface HistoryRow {
  id: string;
  user: { name: string };
  gateway: { id: string; name: string } | null;
  protocol: string;
  clientAddress: string | null;
  virtualAddress: string | null;
  virtualAddress6: string | null;
  connectedAt: string;
  endedAt: string | null;
  durationSeconds: number;
  endCause: string | null;
  endedBy: { name: string } | null;
  endReason: string | null;
  bytesReceived: number;
  bytesSent: number;
}

export interface HistoryPage {
  totalCount: number;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  edges: { node: HistoryRow }[];
}

export const SESSION_HISTORY = /* GraphQL */ `
  query SessionHistory($filter: SessionHistoryFilter, $first: Int, $after: String) {
    sessionHistory(filter: $filter, first: $first, after: $after) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        node {
          id
          user { name }
          gateway { id name }
          protocol
          clientAddress
          virtualAddress
          virtualAddress6
          connectedAt
          endedAt
          durationSeconds
          endCause
          endedBy { name }
          endReason
          bytesReceived
          bytesSent
        }
      }
    }
  }
`;

/** How each end cause reads in the table. */
export const END_CAUSE_WORDS: Record<string, string> = {
  CLIENT_DISCONNECT: 'Client left',
  ADMIN_DISCONNECT: 'Disconnected by an operator',
  GATEWAY_RESTART: 'Gateway restarted',
  GATEWAY_REMOVED: 'Gateway removed',
};
