// Pieces shared by both roles' schemas, so the two files cannot drift apart.
import { bool, obj, oneOf } from './schema.js'

export const API_VERSION = 'edge-metaserver.io/v1alpha1'
export type ApiVersion = typeof API_VERSION

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

export interface FeatureGates {
  /** Enforce Kubernetes authorization for pod requests (off only for debugging). */
  readonly requireAuthorization: boolean
}

export interface LoggingConfig {
  readonly level: LogLevel
}

export const featureGatesField = obj<FeatureGates>({
  requireAuthorization: bool(true),
})

export const loggingField = obj<LoggingConfig>({
  level: oneOf(LOG_LEVELS, 'info'),
})
