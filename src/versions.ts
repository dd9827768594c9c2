/**
 * The version skew the server reports on a cluster (`version_skew`): which package
 * differs where, and the image to use.  Pure: no JupyterLab imports.
 */

export interface IVersionMismatch {
  package: string;
  local: string;
  remote: string;
  where: string;
}

export interface IVersionSkew {
  mismatches: IVersionMismatch[];
  fix: string;
}

/** The skew of a cluster model, or null when its images match this JupyterLab's Dask. */
export function versionSkewOf(cluster: object): IVersionSkew | null {
  const skew = (cluster as { version_skew?: IVersionSkew | null }).version_skew;
  return skew && skew.mismatches.length ? skew : null;
}

/** One line per mismatch: "distributed: notebook 2026.8.0, workers (default) 2025.1.0". */
export function describeSkew(skew: IVersionSkew): string[] {
  return skew.mismatches.map(m => `${m.package}: notebook ${m.local}, ${m.where} ${m.remote}`);
}
