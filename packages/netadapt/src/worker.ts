/** Worker-thread entry of the proposal pool: fine-tune one proposal per message. */
import { parentPort, workerData } from 'node:worker_threads';
import { loadGraph } from '@fastdepth/graph-dsl';
import type { WorkerInit, WorkerRequest, WorkerResponse } from './pool.js';
import { l1Trainer } from './train.js';

const init = workerData as WorkerInit;
const trainer = l1Trainer(init.train);
const port = parentPort!;

port.on('message', (request: WorkerRequest) => {
  const handle = async (): Promise<WorkerResponse> => {
    try {
      const model = { graph: loadGraph(request.graph, 'proposal'), weights: new Map(request.weights) };
      const tuned = await trainer.train(model, request.steps, request.seed);
      return { id: request.id, weights: [...tuned.weights] };
    } catch (e) {
      return { id: request.id, error: e instanceof Error ? e.message : String(e) };
    }
  };
  void handle().then((r) => port.postMessage(r));
});
