/**
 * The schema of schema.ts with its resolvers and the DateTime scalar attached, built once per server.
 */
import {
  assertObjectType,
  assertScalarType,
  buildSchema,
  type GraphQLFieldResolver,
  type GraphQLSchema,
} from 'graphql';
import type { ResolverMap } from './resolvers/resolver-map.js';
import { auditResolvers } from './resolvers/audit.js';
import { disconnectResolvers } from './resolvers/disconnect.js';
import { gatewayResolvers } from './resolvers/gateways.js';
import { sessionResolvers } from './resolvers/sessions.js';
import { tokenResolvers } from './resolvers/tokens.js';
import { viewerResolvers } from './resolvers/viewer.js';
import { sessionEventResolvers, subscriptionFields } from './resolvers/session-events.js';
import { eventTypeDefs } from './schema-events.js';
import { webhookTypeDefs } from './schema-webhooks.js';
import { blockResolvers } from './resolvers/blocks.js';
import { webhookResolvers } from './resolvers/webhooks.js';
import { applyInputGate } from './input-gate.js';
import { implementDateTime } from './scalars.js';
import { typeDefs } from './schema.js';

const RESOLVERS: readonly ResolverMap[] = [
  sessionResolvers,
  disconnectResolvers,
  gatewayResolvers,
  auditResolvers,
  tokenResolvers,
  viewerResolvers,
  sessionEventResolvers,
  webhookResolvers,
  blockResolvers,
];

export function buildApiSchema(): GraphQLSchema {
  const schema = buildSchema(typeDefs + eventTypeDefs + webhookTypeDefs);
  implementDateTime(assertScalarType(schema.getType('DateTime')));
  for (const map of RESOLVERS) {
    for (const [typeName, fields] of Object.entries(map)) {
      const type = assertObjectType(schema.getType(typeName));
      const defined = type.getFields();
      for (const [fieldName, resolve] of Object.entries(fields)) {
        const field = defined[fieldName];
        if (field === undefined) throw new Error(`resolver for unknown field ${typeName}.${fieldName}`);
        field.resolve = resolve as unknown as GraphQLFieldResolver<unknown, unknown>;
      }
    }
  }
  const subscription = assertObjectType(schema.getSubscriptionType()).getFields();
  for (const [fieldName, { subscribe, resolve }] of Object.entries(subscriptionFields)) {
    const field = subscription[fieldName];
    if (field === undefined) throw new Error(`resolver for unknown field Subscription.${fieldName}`);
    field.subscribe = subscribe as unknown as GraphQLFieldResolver<unknown, unknown>;
    field.resolve = resolve as unknown as GraphQLFieldResolver<unknown, unknown>;
  }
  // Last: the gate wraps the resolvers attached above.
  applyInputGate(schema);
  return schema;
}
