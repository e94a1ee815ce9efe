// The EMS ML Service client the EMS front end imports: the seed's `mlApi` (health,
// detectAnomalies, trainModel, getMetrics, getAnomalyScores, listModels) plus the operators'
// page's calls, forecasts and asset health, typed by the schema generated from the API's /openapi.json (src/schema.ts;
// `npm run generate` after the API changes, checked up to date by the service's tests).
import type { components, operations } from "./schema";

type Schemas = components["schemas"];
export type HealthReport = Schemas["HealthReport"];
export type DetectRequest = Schemas["DetectRequest"];
export type DetectResponse = Schemas["DetectResponse"];
export type TrainRequest = Schemas["TrainRequest"];
export type TrainResponse = Schemas["TrainResponse"];
export type AssetMetrics = Schemas["AssetMetrics"];
export type ScorePage = Schemas["ScorePage"];
export type ModelList = Schemas["ModelList"];
export type AssetList = Schemas["AssetList"];
export type IncidentList = Schemas["IncidentList"];
export type Forecast = Schemas["Forecast"];
export type AssetHealth = Schemas["AssetHealth"];
export type HealthList = Schemas["HealthList"];
export type IncidentDetail = Schemas["IncidentDetail"];
export type WindowRequest = Schemas["WindowRequest"];
export type MaintenanceWindow = Schemas["MaintenanceWindow"];
export type WindowList = Schemas["WindowList"];
export type ScoreQuery = NonNullable<
  operations["anomaly_scores_api_v1_anomaly_scores__asset_id__get"]["parameters"]["query"]
>;

/** An answer other than 2xx: its status and the API's `detail` (a message or the 422 list). */
export class MlApiError extends Error {
  constructor(
    readonly status: number,
    readonly detail: unknown,
  ) {
    super(`EMS ML API answered ${status}: ${typeof detail === "string" ? detail : JSON.stringify(detail)}`);
  }
}

export interface MlApiOptions {
  /** e.g. "http://ml-service:8000" (no trailing /api/v1) */
  baseUrl: string;
  /** sent as X-API-Key when the service has API_KEY set */
  apiKey?: string;
  fetch?: typeof fetch;
}

export function createMlApi({ baseUrl, apiKey, fetch: fetchImpl = fetch }: MlApiOptions) {
  const root = baseUrl.replace(/\/+$/, "") + "/api/v1";

  async function call<T>(path: string, init: RequestInit = {}, okStatuses = [200, 201]): Promise<T> {
    const headers: Record<string, string> = { Accept: "application/json" };
    if (init.body) headers["Content-Type"] = "application/json";
    if (apiKey) headers["X-API-Key"] = apiKey;
    const answer = await fetchImpl(root + path, { ...init, headers });
    const body = await answer.json().catch(() => null);
    // health answers 503 with a full report when the database is down: it is still a report
    if (!okStatuses.includes(answer.status)) throw new MlApiError(answer.status, body?.detail ?? body);
    return body as T;
  }

  function query(params: Record<string, string | number | boolean | undefined | null>): string {
    const entries = Object.entries(params).filter(([, v]) => v !== undefined && v !== null);
    return entries.length ? "?" + new URLSearchParams(entries.map(([k, v]) => [k, String(v)])) : "";
  }

  return {
    health: () => call<HealthReport>("/health", {}, [200, 503]),
    detectAnomalies: (request: DetectRequest) =>
      call<DetectResponse>("/anomaly/detect", { method: "POST", body: JSON.stringify(request) }),
    trainModel: (request: TrainRequest) =>
      call<TrainResponse>("/anomaly/train", { method: "POST", body: JSON.stringify(request) }),
    getMetrics: (assetId: number, hours?: number) =>
      call<AssetMetrics>(`/metrics/${assetId}` + query({ hours })),
    getAnomalyScores: (assetId: number, params: ScoreQuery = {}) =>
      call<ScorePage>(`/anomaly/scores/${assetId}` + query(params)),
    listModels: () => call<ModelList>("/models"),
    listAssets: (hours?: number, limit?: number) => call<AssetList>("/assets" + query({ hours, limit })),
    getIncidents: (assetId: number, hours?: number) =>
      call<IncidentList>(`/assets/${assetId}/incidents` + query({ hours })),
    /** `horizon` in hours (default 24); at most 500 points, 80% and 95% intervals */
    getForecast: (assetId: number, metric: string, horizon?: number) =>
      call<Forecast>(`/forecast/${assetId}` + query({ metric, horizon })),
    getAssetHealth: (assetId: number, hours?: number) =>
      call<AssetHealth>(`/assets/${assetId}/health` + query({ hours })),
    /** the incident with its root-cause hints, most likely cause first */
    getIncident: (incidentId: string) => call<IncidentDetail>(`/incidents/${incidentId}`),
    /** mute an asset, a metric pattern or everything for a time range */
    createMaintenance: (request: WindowRequest) =>
      call<MaintenanceWindow>("/maintenance", { method: "POST", body: JSON.stringify(request) }),
    /** active and upcoming windows; with `ended`, the past month's too */
    listMaintenance: (ended?: boolean) => call<WindowList>("/maintenance" + query({ ended })),
    cancelMaintenance: (windowId: string) =>
      call<MaintenanceWindow>(`/maintenance/${windowId}`, { method: "DELETE" }),
    /** worst first */
    listAssetHealth: (hours?: number, limit?: number) =>
      call<HealthList>("/assets/health" + query({ hours, limit })),
  };
}

export type MlApi = ReturnType<typeof createMlApi>;

// A compile-time check that the request types are the camelCase ones the seed's front end sends.
const _seedRequest: DetectRequest = { assetId: 1, metricNames: ["cpu_usage"], timeRange: 3600, threshold: 0.7 };
void _seedRequest;
