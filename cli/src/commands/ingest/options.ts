/** The options of `vitalgate ingest`. */
export interface IngestOpts {
  storageDir?: string; dataDir: string; chainUrl?: string; deployment?: string; host: string; port: number;
  tlsCert?: string; tlsKey?: string; allowPlaintext?: boolean; maxBodyBytes?: number; maxSkewSeconds?: number; logLevel: string;
  s3Bucket?: string; s3Endpoint?: string; s3Region?: string; s3Prefix?: string; s3PathStyle?: boolean; s3NoConditionalWrites?: boolean;
  catalogDir?: string; influx?: string; telemetry: boolean; redis?: string; rateLimit?: number; rebuildCatalog?: boolean;
  clinicians: boolean; dashboard: boolean; publicChainUrl?: string; sessionSecretFile?: string; siweDomain?: string; siweOrigin?: string; auditorKeyFile?: string;
  anchorPeriodSeconds?: number; denialReportSeconds?: number;
}
