/**
 * Validates Kubernetes objects against the API's schemas, as `kubectl apply` with strict
 * field validation (its default) would: the generated validators of kubernetes-models
 * (the Kubernetes OpenAPI schemas) and of its Gateway API and prometheus-operator
 * packages (their CRDs' schemas), plus a check those validators lack: a field the schema
 * does not define (a misspelt `resourcez`) is an error, not silently dropped.
 * Returns one line per problem, [] when valid.
 */

import { HTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';
import { PodMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Ingress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';

interface Validatable {
  validate(): void;
}
type ModelClass = new (data: never) => Validatable;

const MODELS: Record<string, ModelClass> = {
  'v1/ServiceAccount': ServiceAccount as unknown as ModelClass,
  'v1/Service': Service as unknown as ModelClass,
  'apps/v1/Deployment': Deployment as unknown as ModelClass,
  'networking.k8s.io/v1/Ingress': Ingress as unknown as ModelClass,
  'gateway.networking.k8s.io/v1/HTTPRoute': HTTPRoute as unknown as ModelClass,
  'monitoring.coreos.com/v1/PodMonitor': PodMonitor as unknown as ModelClass,
};

/** The schema's own verdict: undefined when valid, its message when not. */
function schemaError(model: ModelClass, document: unknown): string | undefined {
  try {
    new model(document as never).validate();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Every path to a value in the document, leaves and objects alike, e.g. ['spec', 'replicas']. */
function* paths(value: unknown, prefix: Array<string | number> = []): Generator<Array<string | number>> {
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      yield [...prefix, i];
      yield* paths(item, [...prefix, i]);
    }
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      yield [...prefix, key];
      yield* paths(item, [...prefix, key]);
    }
  }
}

function withValueAt(document: unknown, path: Array<string | number>, replacement: unknown): unknown {
  const copy = structuredClone(document) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[path.at(-1)!] = replacement;
  return copy;
}

/**
 * A field the schema defines rejects a value of no JSON type at all; a field it does not
 * define accepts anything. (Entries of a map such as labels or resources.limits are
 * defined by the map's value schema, so they count as known.)
 */
function unknownFields(model: ModelClass, document: unknown): string[] {
  const unknown: string[] = [];
  for (const path of paths(document)) {
    if (typeof path.at(-1) === 'number') continue;
    if (unknown.some((known) => path.join('.').startsWith(`${known}.`))) continue;
    if (schemaError(model, withValueAt(document, path, Symbol('not JSON'))) === undefined) unknown.push(path.join('.'));
  }
  return unknown;
}

export function validateKubernetes(document: { apiVersion?: string; kind?: string }): string[] {
  const key = `${document.apiVersion}/${document.kind}`;
  const model = MODELS[key];
  if (!model) return [`no schema here for ${key}`];
  const error = schemaError(model, document);
  if (error) return [`${key}: ${error}`];
  return unknownFields(model, document).map((path) => `${key}: ${path} is not a field of ${document.kind}`);
}
