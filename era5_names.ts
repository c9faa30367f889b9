/**
 * The names of ERA5 variables in the analysis-ready cloud stores (Google's
 * ARCO-ERA5 and WeatherBench 2 use the CDS's long names: `temperature`,
 * `2m_temperature`, …) and the ERA5 short names our stores use (`t`, `t2m`,
 * as in CDS netCDF downloads): one table, in one place, below every layer
 * (the cloud converter reads stores by it, the forecast store writes
 * WeatherBench 2's names by it). With the CF standard names of the common
 * fields, for the forecast store's attributes.
 *
 * @module
 */

/** Cloud-store name → ERA5 short name. Pressure- or model-level fields first, then single-level ones. */
export const CLOUD_NAMES: Readonly<Record<string, string>> = {
  // On levels.
  geopotential: "z",
  temperature: "t",
  u_component_of_wind: "u",
  v_component_of_wind: "v",
  vertical_velocity: "w",
  specific_humidity: "q",
  relative_humidity: "r",
  vorticity: "vo",
  divergence: "d",
  potential_vorticity: "pv",
  ozone_mass_mixing_ratio: "o3",
  fraction_of_cloud_cover: "cc",
  specific_cloud_ice_water_content: "ciwc",
  specific_cloud_liquid_water_content: "clwc",
  specific_rain_water_content: "crwc",
  specific_snow_water_content: "cswc",
  // Single level.
  "2m_temperature": "t2m",
  "2m_dewpoint_temperature": "d2m",
  "10m_u_component_of_wind": "u10",
  "10m_v_component_of_wind": "v10",
  "100m_u_component_of_wind": "u100",
  "100m_v_component_of_wind": "v100",
  "10m_wind_speed": "si10",
  instantaneous_10m_wind_gust: "i10fg",
  mean_sea_level_pressure: "msl",
  surface_pressure: "sp",
  sea_surface_temperature: "sst",
  skin_temperature: "skt",
  sea_ice_cover: "siconc",
  total_precipitation: "tp",
  large_scale_precipitation: "lsp",
  convective_precipitation: "cp",
  total_cloud_cover: "tcc",
  low_cloud_cover: "lcc",
  medium_cloud_cover: "mcc",
  high_cloud_cover: "hcc",
  total_column_water: "tcw",
  total_column_water_vapour: "tcwv",
  boundary_layer_height: "blh",
  evaporation: "e",
  snow_depth: "sd",
  snowfall: "sf",
  toa_incident_solar_radiation: "tisr",
  surface_solar_radiation_downwards: "ssrd",
  surface_thermal_radiation_downwards: "strd",
  surface_net_solar_radiation: "ssr",
  surface_net_thermal_radiation: "str",
  top_net_thermal_radiation: "ttr",
  surface_latent_heat_flux: "slhf",
  surface_sensible_heat_flux: "sshf",
  volumetric_soil_water_layer_1: "swvl1",
  soil_temperature_level_1: "stl1",
  significant_height_of_combined_wind_waves_and_swell: "swh",
  mean_wave_direction: "mwd",
  mean_wave_period: "mwp",
  // Constant fields. Surface geopotential is `z` in ERA5 too: `z_sfc` here, so it can sit beside `z` on levels.
  geopotential_at_surface: "z_sfc",
  land_sea_mask: "lsm",
  soil_type: "slt",
  lake_cover: "cl",
  high_vegetation_cover: "cvh",
  low_vegetation_cover: "cvl",
  standard_deviation_of_orography: "sdor",
  slope_of_sub_gridscale_orography: "slor",
  angle_of_sub_gridscale_orography: "anor",
  anisotropy_of_sub_gridscale_orography: "isor",
};

const SHORT_TO_CLOUD = new Map(Object.entries(CLOUD_NAMES).map(([cloud, short]) => [short, cloud]));

/** The cloud-store (WeatherBench 2) name of an ERA5 short name; undefined when the table does not know it. */
export function cloudName(short: string): string | undefined {
  return SHORT_TO_CLOUD.get(short);
}

/** CF standard names of the ERA5 fields that have one (CF standard name table). */
const STANDARD_NAMES: Readonly<Record<string, string>> = {
  z: "geopotential",
  t: "air_temperature",
  u: "eastward_wind",
  v: "northward_wind",
  w: "lagrangian_tendency_of_air_pressure",
  q: "specific_humidity",
  r: "relative_humidity",
  vo: "atmosphere_relative_vorticity",
  d: "divergence_of_wind",
  t2m: "air_temperature",
  d2m: "dew_point_temperature",
  u10: "eastward_wind",
  v10: "northward_wind",
  msl: "air_pressure_at_mean_sea_level",
  sp: "surface_air_pressure",
  sst: "sea_surface_temperature",
  skt: "surface_temperature",
  siconc: "sea_ice_area_fraction",
  tcwv: "atmosphere_mass_content_of_water_vapor",
  lsm: "land_binary_mask",
};

/** The CF standard name of an ERA5 short name; undefined when it has none here. */
export function standardName(short: string): string | undefined {
  return STANDARD_NAMES[short];
}
