import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { loadCalibrationSet } from './training-data.js';

const PHOTOS = fileURLToPath(new URL('../../../../shared/data/photos/', import.meta.url));
const options = { count: 6, scoring: 5, height: 32, width: 32, seed: 0 };

describe('loadCalibrationSet', () => {
  it('takes the ranking crops from photos of their own with --ranking-photos', async () => {
    const set = await loadCalibrationSet(PHOTOS, { ...options, holdout: 4, rankingPhotos: 3 });
    expect(set.heldOutNames).toHaveLength(4);
    expect(set.rankingNames).toHaveLength(3);
    expect(set.photos).toHaveLength(13);
    // Three disjoint sets that together are every photo.
    const all = [...set.photos, ...set.rankingNames, ...set.heldOutNames];
    expect(new Set(all).size).toBe(20);
    expect([set.calibration.length, set.scoring.length, set.heldOut.length]).toEqual([6, 5, 4]);
    // The held-out photos do not depend on the ranking split; by default one in four of the rest rank.
    const byDefault = await loadCalibrationSet(PHOTOS, { ...options, holdout: 4 });
    expect(byDefault.heldOutNames).toEqual(set.heldOutNames);
    expect([byDefault.photos.length, byDefault.rankingNames.length]).toEqual([12, 4]);
    expect(byDefault.photos.filter((n) => byDefault.rankingNames.includes(n))).toEqual([]);
    // With 0 the ranking crops are other crops of the calibration photos.
    const plain = await loadCalibrationSet(PHOTOS, { ...options, holdout: 4, rankingPhotos: 0 });
    expect(plain.heldOutNames).toEqual(set.heldOutNames);
    expect(plain.rankingNames).toEqual([]);
    expect(plain.photos).toHaveLength(16);
    expect(plain.scoring[0]!.data).not.toEqual(set.scoring[0]!.data);
  });

  it('crops the ranking photos for ranking and the others for calibration', async () => {
    // Five black photos and a white one: a crop's brightness says which photo it came from.
    const dir = join(mkdtempSync(join(tmpdir(), 'ranking-')), 'photos');
    mkdirSync(dir);
    const names = ['b1', 'b2', 'b3', 'b4', 'b5', 'w1'];
    for (const name of names)
      await sharp({
        create: { width: 40, height: 40, channels: 3, background: name === 'w1' ? '#ffffff' : '#000000' },
      })
        .png()
        .toFile(join(dir, `${name}.png`));
    const white = (t: { data: Float32Array }): boolean =>
      t.data.reduce((a, v) => a + v, 0) / t.data.length > 0.5;
    for (const seed of [0, 1, 2, 3, 4, 5]) {
      const set = await loadCalibrationSet(dir, {
        ...options,
        count: 10,
        seed,
        holdout: 0,
        rankingPhotos: 1,
      });
      const rankedOnWhite = set.rankingNames[0] === 'w1.png';
      expect(set.scoring.map(white)).toEqual(set.scoring.map(() => rankedOnWhite));
      // Ten calibration crops cycle through the five calibration photos: the white one if it is there.
      expect(set.calibration.some(white)).toBe(!rankedOnWhite);
    }
  });

  it('keeps at least one photo to calibrate on', async () => {
    await expect(loadCalibrationSet(PHOTOS, { ...options, holdout: 4, rankingPhotos: 16 })).rejects.toThrow(
      `--ranking-photos 16: "${join(PHOTOS)}" has 16 photo(s) besides the held-out ones; at least one must remain for calibration`,
    );
  });
});
