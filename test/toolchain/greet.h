#ifndef GREET_H_
#define GREET_H_

#ifdef __cplusplus
extern "C" {
#endif

/* greeting returns a greeting for name, in a static buffer. */
const char *greeting(const char *name);

#ifdef __cplusplus
}
#endif

#endif
