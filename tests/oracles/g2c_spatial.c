/* GRIB2 messages with complex packing and spatial differencing of order 1 and 2
 * (template 5.3), written by NCEP's g2c library (Debian libg2c-dev), because
 * ecCodes 2.28 writes template 5.3 with order 0. Usage: g2c_spatial OUT.grib2 */
#include <grib2.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  const g2int ni = 180, nj = 91, n = ni * nj;
  FILE *out = fopen(argv[1], "wb");
  if (!out) return 1;
  g2float *fld = malloc(sizeof(g2float) * n);
  g2int *bmap = malloc(sizeof(g2int) * n);
  for (g2int j = 0; j < nj; j++)
    for (g2int i = 0; i < ni; i++) {
      double la = (90.0 - 2.0 * j) * M_PI / 180, lo = 2.0 * i * M_PI / 180;
      fld[j * ni + i] = 288 - 40 * sin(la) * sin(la) + 3 * sin(2 * lo) * cos(la) + 0.3 * cos(7 * lo) * sin(5 * la);
      bmap[j * ni + i] = (sin(3 * lo) * cos(2 * la) > 0.35) ? 0 : 1;
    }
  for (int variant = 0; variant < 3; variant++) {
    unsigned char *buf = calloc(1, n * 8 + 4096);
    g2int sec0[2] = {0, 2};
    g2int sec1[13] = {98, 0, 2, 0, 1, 2020, 2, 1, variant, 0, 0, 0, 1};
    g2_create(buf, sec0, sec1);
    g2int igds[5] = {0, n, 0, 0, 0};
    g2int gt[19] = {6, 0, 0, 0, 0, 0, 0, ni, nj, 0, 0, 90000000, 0, 48, -90000000, 358000000, 2000000, 2000000, 0};
    g2_addgrid(buf, igds, gt, NULL, 0);
    g2int pt[15] = {0, 0, 2, 0, 0, 0, 0, 1, 0, 100, 0, 50000, 255, 0, 0};
    g2int order = variant == 0 ? 1 : 2;
    g2int dt[18] = {0, 0, 3, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, order, 0};
    g2int rc = g2_addfield(buf, 0, pt, NULL, 0, 3, dt, fld, n, variant == 2 ? 0 : 255, variant == 2 ? bmap : NULL);
    if (rc < 0) return 2;
    g2int len = g2_gribend(buf);
    fwrite(buf, 1, len, out);
    free(buf);
  }
  fclose(out);
  return 0;
}
