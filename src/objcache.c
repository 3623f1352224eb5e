/* A stack of free objects under one lock. */
#include <stdlib.h>
#include <string.h>

#include "objcache.h"

void *objcache_get(struct objcache *oc)
{
	void *obj;

	pthread_mutex_lock(&oc->lock);
	obj = oc->head;
	if (obj) {
		oc->head = *(void **)obj;
		oc->n--;
	}
	pthread_mutex_unlock(&oc->lock);
	if (!obj)
		return calloc(1, oc->size);
	memset(obj, 0, oc->size);
	return obj;
}

void objcache_put(struct objcache *oc, void *obj)
{
	if (!obj)
		return;
	pthread_mutex_lock(&oc->lock);
	if (oc->n < oc->max) {
		*(void **)obj = oc->head;
		oc->head = obj;
		oc->n++;
		obj = NULL;
	}
	pthread_mutex_unlock(&oc->lock);
	free(obj);
}

void objcache_drain(struct objcache *oc)
{
	void *obj;

	pthread_mutex_lock(&oc->lock);
	obj = oc->head;
	oc->head = NULL;
	oc->n = 0;
	pthread_mutex_unlock(&oc->lock);
	while (obj) {
		void *next = *(void **)obj;

		free(obj);
		obj = next;
	}
}
