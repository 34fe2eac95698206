// The messages between the dashboard's webview and the extension, declared once for both sides.

import type { DashboardData } from '../../server/src/protocol';

export type ToDashboard = { type: 'data'; data: DashboardData } | { type: 'focus'; section: 'collected' } | { type: 'error'; message: string };

export type FromDashboard =
  | { type: 'ready' }
  | { type: 'trainNow' }
  | { type: 'cancelTraining' }
  | { type: 'setLearning'; paused: boolean }
  | { type: 'makeLive'; version: number }
  | { type: 'forget'; path: string }
  | { type: 'forgetAll' };
