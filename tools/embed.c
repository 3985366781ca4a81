/* embed: print a C file defining NAME (a NUL-terminated char array) and NAME_len
 * holding the bytes of FILE. Used to compile data files (the Kubernetes field tree)
 * into the binaries so that no daemon depends on finding a data file at run time. */
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: embed NAME FILE\n");
        return 2;
    }
    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    printf("#include <stddef.h>\nconst char %s[] = {\n", argv[1]);
    int c;
    size_t n = 0;
    while ((c = fgetc(f)) != EOF) {
        printf("%d,%s", c, (++n % 24) ? "" : "\n");
    }
    printf("0};\nconst size_t %s_len = %zu;\n", argv[1], n);
    fclose(f);
    return 0;
}
