// The serving topology, in a consumer group of its own (<pipeline.groupId><serving.groupSuffix>): per-event
// inference and the six services, then the alert rules.
//   clean.rfid.scans        → item-scoring  → predictions.maintenance (+ predictions.quality)
//   tagstream.class-events  → class-scoring → predictions.demand (+ predictions.pricing, predictions.restock)
//   clean.pos.transactions  → pack-scoring  → predictions.pack
//   predictions.<service>   → alert rules   → alerts   (deduplicated and throttled per entity and rule; only the
//                                                      services a rule judges: maintenance, restock, quality)
// Scoring flows are stateless and async (micro-batched); alert flows are stateful (changelogged) and synchronous.
// Drift alerts come from the scoring flows themselves (side port `alerts`): they compare the inputs each model
// scored with its training data, which the predictions topics do not carry (src/serving/drift.ts).
import type { Config } from '../config/schema.ts';
import { cleanTopic, predictionTopic } from '../config/topics.ts';
import { ALERTED_SERVICES, alertRules } from '../operators/alert-rules.ts';
import { progressKind } from '../src/features/class-events.ts';
import { mapOperator, type Operator } from '../src/runtime/operator.ts';
import { Flow, topology, type Branch, type Topology } from '../src/runtime/topology.ts';
import { loadSchema } from '../src/schemas/catalog.ts';
import type { Alert, ClassEvent, PosTransaction, Prediction, RfidScan } from '../src/schemas/types.ts';
import { PREDICTION_SERVICES, type PredictionService } from '../src/features/vocabulary.ts';
import { ALERTS_PORT, ScoringService, type ServingDeps } from '../src/serving/scoring.ts';

/** The six prediction services (one list for the pipeline, the prediction cache and the API). */
export const SERVICES = PREDICTION_SERVICES;
export type ServiceName = PredictionService;

export function predictionsTopic(config: Config, service: ServiceName): string {
  return predictionTopic(config.topics, service);
}

/** Progress markers on class-events (src/features/class-events.ts) are for the class windows, not for scoring. */
const skipProgressMarkers: Operator<ClassEvent, ClassEvent> = {
  name: 'skip-progress-markers',
  process: (rec) => (progressKind(rec.value) ? [] : [rec]),
};

/** Scoring flows only (no alert rules); `servingTopology` adds them. */
export function scoringBranches(config: Config, deps: ServingDeps): Branch[] {
  const { topics } = config;
  const schema = loadSchema('prediction');
  const alertSchema = loadSchema('alert');
  const to = (s: ServiceName) => predictionsTopic(config, s);
  const scoring = new ScoringService(deps);
  return [
    Flow.from<RfidScan>(cleanTopic(topics, topics.scans))
      .via(scoring.itemScoring())
      .side('quality', to('quality'), schema)
      .side(ALERTS_PORT, topics.alerts, alertSchema)
      .to(to('maintenance'), schema),
    Flow.from<ClassEvent>(topics.classEvents)
      .via(skipProgressMarkers)
      .via(scoring.classScoring())
      .side('pricing', to('pricing'), schema)
      .side('restock', to('restock'), schema)
      .side(ALERTS_PORT, topics.alerts, alertSchema)
      .to(to('demand'), schema),
    Flow.from<PosTransaction>(cleanTopic(topics, topics.transactions))
      .via(scoring.packScoring())
      .to(to('pack'), schema),
  ];
}

/** Called once per alert raised (metrics). */
export type OnAlert = (alert: Alert) => void;

export function alertBranches(config: Config, onAlert: OnAlert = () => undefined): Branch[] {
  const { alerts } = config.serving;
  const opts = {
    maintenance: alerts.maintenance,
    restock: alerts.restock,
    quality: alerts.quality,
    throttleMs: alerts.throttleMs,
  };
  return ALERTED_SERVICES.map((service) =>
    Flow.from<Prediction>(predictionsTopic(config, service), loadSchema('prediction'))
      .via(alertRules(opts, `alerts-${service}`))
      .via(
        mapOperator<Alert, Alert>(`count-alerts-${service}`, (a, rec) => {
          onAlert(a);
          return rec;
        }),
      )
      .to(config.topics.alerts, loadSchema('alert')),
  );
}

export function servingTopology(config: Config, deps: ServingDeps, onAlert?: OnAlert): Topology {
  return topology('serving', [...scoringBranches(config, deps), ...alertBranches(config, onAlert)]);
}
