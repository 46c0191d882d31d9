import type { RequestHandler } from 'express';

/** Demo data behind `service.api`. */
export const REPORTS = Object.freeze([
  { id: 'q3-revenue', title: 'Q3 revenue', currency: 'EUR', total: 1_284_000 },
  { id: 'q3-churn', title: 'Q3 churn', unit: 'percent', total: 2.7 },
]);

export const listReports: RequestHandler = (_req, res) => {
  res.json({ reports: REPORTS });
};
