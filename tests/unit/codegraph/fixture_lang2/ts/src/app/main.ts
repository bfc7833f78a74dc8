import { config } from '@app/config';
import { legacy } from '@app/old';
import { util } from '@lib';
import { direct } from 'lib/direct';
import { feature } from 'widgets/features/button';
import { inner } from '#internal/tools';
import { types } from 'widgets';
import { nothing } from '@app/nowhere';

export function main() {
  config();
  legacy();
  util();
  direct();
  feature();
  inner();
  types();
  nothing();
}
