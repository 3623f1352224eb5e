/* State machines as tables: rows of {state, event, next state, action, RFC label}. A machine
 * looks its row up here; the caller's driver logs the transition, assigns the state (in one
 * place) and runs the action. An event with no row in the current state is the driver's to
 * refuse. */
#ifndef ISCSIFS_FSM_H
#define ISCSIFS_FSM_H

#include <stddef.h>

struct fsm_row {
	int state, event, next, action;
	const char *label; /* the transition's name in RFC 7143 section 8 (or ours) */
};

struct fsm {
	const char *name;
	const struct fsm_row *rows;
	size_t nrows;
	const char *const *states; /* names, by value */
	size_t nstates;
	const char *const *events;
	size_t nevents;
};

/* The row for event in state, or NULL. */
const struct fsm_row *fsm_find(const struct fsm *m, int state, int event);
const char *fsm_state_name(const struct fsm *m, int state);
const char *fsm_event_name(const struct fsm *m, int event);

#endif
