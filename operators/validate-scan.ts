// VALIDATE for RFID scans: required fields, known scan type and store, sane event time and grade; event time becomes the record time.
import { isScanType } from '../src/features/vocabulary.ts';
import type { RfidScan } from '../src/schemas/types.ts';
import { recordError } from '../src/errors.ts';
import type { Operator } from '../src/runtime/operator.ts';
import {
  asObject,
  checkEventTime,
  checkStore,
  optionalString,
  requireNumber,
  requireString,
  type ValidationRules,
} from './validation-rules.ts';

export function validateScan(rules: ValidationRules): Operator<unknown, RfidScan> {
  return {
    name: 'validate-scan',
    process(rec, ctx) {
      const o = asObject(rec.value);
      const tag_id = requireString(o, 'tag_id');
      const rental_class_num = requireString(o, 'rental_class_num');
      const scan_type = requireString(o, 'scan_type').toLowerCase();
      const scan_date = requireNumber(o, 'scan_date');
      const reader_id = requireString(o, 'reader_id');
      const store_id = requireString(o, 'store_id');
      const quality_grade = requireNumber(o, 'quality_grade');
      if (!isScanType(scan_type))
        throw recordError(
          'UNKNOWN_SCAN_TYPE',
          `scan_type ${JSON.stringify(scan_type)} is not one of in, out, return, damage, repair`,
          { field: 'scan_type' },
        );
      if (!Number.isInteger(quality_grade) || quality_grade < 1 || quality_grade > 5)
        throw recordError(
          'BAD_QUALITY_GRADE',
          `quality_grade ${quality_grade} is not an integer from 1 to 5`,
          { field: 'quality_grade' },
        );
      checkStore(store_id, rules);
      checkEventTime('scan_date', scan_date, ctx.clock.now(), rules);
      const scan: RfidScan = {
        tag_id,
        rental_class_num,
        scan_type,
        scan_date,
        reader_id,
        store_id,
        quality_grade,
        notes: optionalString(o, 'notes'),
      };
      return [{ key: rec.key, value: scan, timestamp: scan_date }];
    },
  };
}
