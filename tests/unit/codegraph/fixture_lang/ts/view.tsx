import { Circle } from './shapes';
import { run } from './main.js';

function Badge(): JSX.Element {
  return <span>{run()}</span>;
}

export function View(): JSX.Element {
  run();
  return (
    <div>
      <Badge />
      {new Circle().kind}
    </div>
  );
}
