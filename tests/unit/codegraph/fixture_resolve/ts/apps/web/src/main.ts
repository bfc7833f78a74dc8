import { core } from '@mono/core';
import { feature } from '@mono/core/feature';
import { helper } from '@core/helper';
import { fmt } from '../../../packages/core/dist/fmt.js';
import { ui } from '@mono/ui';
import { Button } from '@mono/ui/button';
import { Button as B2 } from '../../../packages/ui/out/button.js';
import { ignored } from '@mono/ignored';
import { widget } from './widget';

export function main() {
  core(), feature(), helper(), fmt(), ui(), Button(), B2(), ignored(), widget();
}
