/* The table lookup every state machine shares: a few dozen rows, read in order. */
#include "fsm.h"

const struct fsm_row *fsm_find(const struct fsm *m, int state, int event)
{
	for (size_t i = 0; i < m->nrows; i++)
		if (m->rows[i].state == state && m->rows[i].event == event)
			return &m->rows[i];
	return NULL;
}

const char *fsm_state_name(const struct fsm *m, int state)
{
	return state >= 0 && (size_t)state < m->nstates && m->states[state] ? m->states[state]
									      : "?";
}

const char *fsm_event_name(const struct fsm *m, int event)
{
	return event >= 0 && (size_t)event < m->nevents && m->events[event] ? m->events[event]
									      : "?";
}
